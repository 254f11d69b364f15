"""The contract between hub, culler and servers (jupyterhub_imagine/contract.py) against the
other places that must agree with it: the labextension's TypeScript types and routes, the hub
home page, the Helm chart's defaults, and the hub-side wiring of a renamed culler."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from jupyterhub_imagine import contract
from jupyterhub_imagine.culler.hubconfig import CULLER_SCOPES, TEMPLATE_VAR, wire_culler
from jupyterhub_imagine.spawner.local import ImagineLocalSpawner
from jupyterhub_imagine.startup import CULLER_PORT

ROOT = Path(__file__).resolve().parents[1]
API_TS = (ROOT / "labextension" / "src" / "api.ts").read_text()
VALUES = yaml.safe_load((ROOT / "helm" / "jupyterhub-imagine" / "values.yaml").read_text())
WARNING = {
    "issued_at": 10.0,
    "stop_at": 20.0,
    "reason": "GPU idle",
    "postponements_left": 1,
    "postpone_by": 3600.0,
}


def ts_interface(name: str) -> dict[str, str]:
    body = re.search(rf"export interface {name} \{{(.*?)\n\}}", API_TS, re.S)
    assert body, f"{name} is missing from api.ts"
    return dict(re.findall(r"^\s+(\w+)\??: ([^;]+);", body.group(1), re.M))


def test_the_labextension_types_are_the_contract_payloads() -> None:
    warning = ts_interface("IGpuWarning")
    assert set(warning) == {f.name for f in fields(contract.CullWarning)}
    assert warning["keep_requested_at"] == "number | null"
    assert re.search(rf"API_NAMESPACE = '{contract.API_PREFIX}'", API_TS)
    for route in (contract.ROUTE_WARNING, contract.ROUTE_KEEP, contract.ROUTE_PRESENCE):
        assert f"'{route}'" in API_TS, route
    kinds = re.search(r"export type PresenceKind = ([^;]+);", API_TS)
    assert kinds, "PresenceKind is missing from api.ts"
    assert set(re.findall(r"'(\w+)'", kinds.group(1))) == contract.PRESENCE_KINDS


def test_the_hub_home_page_asks_the_culler_by_the_contract() -> None:
    home = (ROOT / "jupyterhub_imagine" / "templates" / "home.html").read_text()
    assert f'default("{contract.DEFAULT_CULLER_SERVICE}")' in home
    assert f"{TEMPLATE_VAR} " in home
    assert f'prefix }}}}{contract.CULLER_ROUTE_WARNINGS}"' in home


def test_the_chart_runs_the_contract_culler() -> None:
    services = VALUES["jupyterhub"]["hub"]["services"]
    (name,) = [n for n, s in services.items() if s["command"][0] == contract.CULLER_COMMAND]
    assert name == contract.DEFAULT_CULLER_SERVICE
    hub = VALUES["jupyterhub"]["hub"]
    assert CULLER_PORT in [p["name"] for p in hub["service"]["extraPorts"]]
    # its role, users' access and home page; its URLs and env (ENV_SERVERS_URL, ...) at start
    code = "\n".join(hub["extraConfig"].values())
    assert "wire_culler(c)" in code and "wire_z2jh_services(" in code


@pytest.mark.parametrize(
    "bad, field",
    [
        ({**WARNING, "stop_at": "soon"}, "stop_at"),
        ({**WARNING, "stop_at": 5.0}, "stop_at"),
        ({**WARNING, "issued_at": float("nan")}, "issued_at"),
        ({**WARNING, "postponements_left": True}, "postponements_left"),
        ({**WARNING, "postponements_left": 10**9}, "postponements_left"),
        ({**WARNING, "reason": "x" * 501}, "reason"),
        ({**WARNING, "extra": 1}, "unknown"),
        ({k: v for k, v in WARNING.items() if k != "postpone_by"}, "postpone_by"),
        ([WARNING], "object"),
    ],
)
def test_a_warning_off_the_contract_is_refused_with_its_field(bad: Any, field: str) -> None:
    with pytest.raises(contract.ContractError, match=field):
        contract.CullWarning.parse(bad)


def test_payloads_round_trip() -> None:
    warning = contract.CullWarning.parse(WARNING)
    assert contract.CullWarning.parse(warning.to_json()) == warning
    activity = contract.Activity(now=30.0, gpu={"available": False}, warning=warning)
    assert contract.Activity.parse(activity.to_json()) == activity
    with pytest.raises(contract.ContractError, match="now"):
        contract.Activity.parse({"gpu": {}})


def renamed_hub(name: str) -> Config:
    c = Config()
    c.JupyterHub.services.append({"name": "other", "api_token": "x"})
    c.JupyterHub.services.append(
        {"name": name, "command": [contract.CULLER_COMMAND, "--IdleGPUCuller.cull_every=60"]}
    )
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self"]}]
    return c


def test_a_renamed_culler_is_wired_everywhere_from_its_service_entry() -> None:
    c = renamed_hub("gpu-reaper")
    assert wire_culler(c) == "gpu-reaper"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["gpu-reaper"]["services"] == ["gpu-reaper"]
    assert tuple(roles["gpu-reaper"]["scopes"]) == CULLER_SCOPES
    assert roles["user"]["scopes"] == ["self", "access:services!service=gpu-reaper"]
    assert c.JupyterHub.template_vars[TEMPLATE_VAR] == "gpu-reaper"
    assert wire_culler(c) == "gpu-reaper"  # idempotent: nothing added twice
    assert len(c.JupyterHub.load_roles) == 2
    # the spawner hands the same name to every server, which accepts it by default
    spawner = ImagineLocalSpawner(config=c)
    assert spawner.culler_service == "gpu-reaper"
    assert (
        contract.culler_service_from_env({contract.ENV_CULLER_SERVICE: spawner.culler_service})
        == "gpu-reaper"
    )


def test_without_a_culler_service_nothing_is_wired() -> None:
    c = Config()
    c.JupyterHub.services = [{"name": "other", "api_token": "x"}]
    assert wire_culler(c) is None
    assert "load_roles" not in c.JupyterHub
