"""Render helm/jupyterhub-imagine with the real helm binary, and load the hub's config from it.

Zero-to-JupyterHub cannot be downloaded where the tests run, and Helm refuses to render a chart
whose dependency is missing from charts/. ``chart_copy`` therefore copies the chart to a
temporary directory and puts the TEST STUB ``tests/helm/stub-jupyterhub`` in its charts/jupyterhub.
The stub renders one Secret carrying its values as Helm computed them (our defaults, the
example's values and a few Z2JH defaults), which is what Z2JH's hub Secret hands to the hub.

``hub_config`` then replicates the small part of Z2JH's ``jupyterhub_config.py`` that turns those
values into the hub's traitlets config: the spawner defaults from ``singleuser.*``, the services
and roles from ``hub.services`` / ``hub.loadRoles`` (with Z2JH's generated API tokens), the
crypt key read from the mounted Secrets, then each ``hub.config.<Section>`` merged into ``c``
with ``c[section].update(cfg)``, minus the keys Z2JH reserves for its Secret.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "jupyterhub-imagine"
EXAMPLES = ROOT / "helm" / "examples"
STUB = Path(__file__).resolve().parent / "stub-jupyterhub"
SOURCE_PREFIX = "jupyterhub-imagine/templates/"
STUB_SOURCE_PREFIX = "jupyterhub-imagine/charts/jupyterhub/"
K8S_VERSION = "1.33.0"


def helm_binary() -> str:
    """helm from the venv (installed by .ci/install-tools), else from PATH."""
    local = Path(sys.executable).parent / "helm"
    found = str(local) if local.is_file() else shutil.which("helm")
    if not found:
        raise RuntimeError("helm is not installed: run `.ci/install-tools .venv` (make test does)")
    return found


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def chart_copy(tmp: Path, with_stub: bool = True) -> Path:
    """A copy of the chart in ``tmp``, with the TEST STUB as its jupyterhub dependency."""
    target = tmp / "jupyterhub-imagine"
    shutil.copytree(CHART, target, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    if with_stub:
        shutil.copytree(STUB, target / "charts" / "jupyterhub")
    return target


def write_values(tmp: Path, values: Mapping[str, Any], name: str = "extra.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(dict(values), sort_keys=False))
    return path


def template_args(
    chart: Path, values_files: Iterable[Path], release: str, namespace: str
) -> list[str]:
    args = ["template", release, str(chart), "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    return args


@dataclass
class Rendered:
    """The documents ``helm template`` printed, each with its ``# Source:`` template path."""

    documents: list[tuple[str, dict[str, Any]]]

    def ours(self) -> list[dict[str, Any]]:
        """Objects from this chart's own templates (not the stub's)."""
        return [doc for source, doc in self.documents if source.startswith(SOURCE_PREFIX)]

    def find(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [
            d
            for d in self.ours()
            if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
        ]

    def _stub(self, kind: str) -> dict[str, Any]:
        stub = [doc for source, doc in self.documents
                if source.startswith(STUB_SOURCE_PREFIX) and doc["kind"] == kind]
        assert len(stub) == 1, f"expected one {kind} of the stub, got {stub}"
        return stub[0]

    def hub_values(self) -> dict[str, Any]:
        """The values.yaml the hub would read (from the stub's stand-in of Z2JH's hub Secret)."""
        values: dict[str, Any] = yaml.safe_load(self._stub("Secret")["stringData"]["values.yaml"])
        return values

    def hub_names(self) -> dict[str, str]:
        """Z2JH's full names of its objects, as its get_name() reads them (stub's ConfigMap)."""
        return dict(self._stub("ConfigMap")["data"])


def parse_documents(text: str) -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for chunk in text.split("\n---"):
        source = ""
        for line in chunk.splitlines():
            if line.startswith("# Source: "):
                source = line.removeprefix("# Source: ").strip()
                break
        doc = yaml.safe_load(chunk)
        if doc:
            documents.append((source, doc))
    return documents


def render(
    chart: Path, *values_files: Path, release: str = "jhub", namespace: str = "jhub"
) -> Rendered:
    result = helm(*template_args(chart, values_files, release, namespace))
    return Rendered(parse_documents(result.stdout))


def render_error(chart: Path, *values_files: Path) -> str:
    """helm's error output for values that must be refused (fails when helm renders them)."""
    result = helm(*template_args(chart, values_files, "jhub", "jhub"), check=False)
    assert result.returncode != 0, f"helm rendered values that should fail:\n{result.stdout}"
    return result.stderr


def load_example(name: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return values


# -- the hub side: Z2JH's jupyterhub_config.py, the part that matters here --------------------


def get(values: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """Z2JH's get_config: values["a"]["b"]["c"] for "a.b.c", or ``default``."""
    value: Any = values
    for level in dotted.split("."):
        if not isinstance(value, Mapping) or level not in value:
            return default
        value = value[level]
    return value


@dataclass
class HubSecrets:
    """What Kubernetes would mount or inject into the hub pod: Secrets by name -> key -> value.

    ``managed`` stands in for Z2JH's own hub Secret (generated tokens and cookie secret)."""

    secrets: dict[str, dict[str, str]]
    existing: str | None
    managed: dict[str, str]

    def secret_value(self, key: str) -> str:
        """Z2JH's get_secret_value: the existing Secret first, then the chart-managed one."""
        if self.existing and key in self.secrets.get(self.existing, {}):
            return self.secrets[self.existing][key]
        if key in self.managed:
            return self.managed[key]
        raise KeyError(f"{key} not found in either k8s Secret")


def managed_secret(values: Mapping[str, Any]) -> dict[str, str]:
    """Z2JH generates these when the chart is installed."""
    generated = {
        "hub.config.JupyterHub.cookie_secret": secrets.token_hex(32),
        "hub.config.CryptKeeper.keys": secrets.token_hex(32),
        "hub.config.ConfigurableHTTPProxy.auth_token": secrets.token_hex(32),
    }
    for key in get(values, "hub.services", {}) or {}:
        generated[f"hub.services.{key}.apiToken"] = secrets.token_hex(32)
    return generated


def hub_env(values: Mapping[str, Any], hub_secrets: HubSecrets) -> dict[str, str]:
    """hub.extraEnv as the hub container sees it (secretKeyRef resolved like the kubelet)."""
    raw = get(values, "hub.extraEnv", {}) or {}
    items = (
        [
            {"name": k, **v} if isinstance(v, Mapping) else {"name": k, "value": v}
            for k, v in raw.items()
        ]
        if isinstance(raw, Mapping)
        else list(raw)
    )
    env = {}
    for item in items:
        ref = get(item, "valueFrom.secretKeyRef")
        if ref is not None:
            env[item["name"]] = hub_secrets.secrets[ref["name"]][ref["key"]]
        else:
            env[item["name"]] = str(item["value"])
    return env


def _as_named(raw: Any, key_of: Any) -> dict[str, Any]:
    """Z2JH's "list or dict" values (extraVolumes, extraVolumeMounts) as its dict form."""
    if isinstance(raw, Mapping):
        return dict(raw)
    return {key_of(i, item): item for i, item in enumerate(raw or [])}


def _spawner_config(c: Config, values: Mapping[str, Any], namespace: str) -> None:
    """The singleuser.* settings this chart relies on, set on c.KubeSpawner like Z2JH does."""
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.KubeSpawner.namespace = namespace
    for trait, key in (
        ("profile_list", "singleuser.profileList"),
        ("node_selector", "singleuser.nodeSelector"),
        ("node_affinity_required", "singleuser.extraNodeAffinity.required"),
        ("node_affinity_preferred", "singleuser.extraNodeAffinity.preferred"),
        ("environment", "singleuser.extraEnv"),
    ):
        value = get(values, key)
        if value is not None:
            c.KubeSpawner[trait] = value
    image = get(values, "singleuser.image.name")
    if image:
        tag = get(values, "singleuser.image.tag")
        c.KubeSpawner.image = f"{image}:{tag}" if tag else image
    tolerations = get(values, "scheduling.userPods.tolerations", []) + get(
        values, "singleuser.extraTolerations", []
    )
    if tolerations:
        c.KubeSpawner.tolerations = tolerations
    c.KubeSpawner.volumes = _as_named(
        get(values, "singleuser.storage.extraVolumes"), lambda i, v: v["name"]
    )
    c.KubeSpawner.volume_mounts = _as_named(
        get(values, "singleuser.storage.extraVolumeMounts"), lambda i, m: f"{i}-{m['name']}"
    )


PLAIN_NAMES = {"hub": "hub", "proxy-api": "proxy-api", "proxy-http": "proxy-http",
               "proxy-public": "proxy-public"}


def hub_config(
    values: Mapping[str, Any],
    hub_secrets: HubSecrets,
    namespace: str,
    names: Mapping[str, str] = PLAIN_NAMES,
) -> Config:
    """The traitlets config Z2JH's jupyterhub_config.py builds from ``values`` (see module doc).

    ``names`` stands in for Z2JH's name ConfigMap (``get_name``); Z2JH's defaults without it.
    """
    values = yaml.safe_load(yaml.safe_dump(dict(values)))  # the hub reads a fresh copy
    c = Config()
    _spawner_config(c, values, namespace)
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    if get(values, "cull.enabled", False):
        # Z2JH's own culler; the bundle's defaults turn it off (asserted by the tests).
        c.JupyterHub.services.append({"name": "jupyterhub-idle-culler", "command": ["..."]})
    for key, service in (get(values, "hub.services", {}) or {}).items():
        service.setdefault("name", key)
        service.pop("apiToken", None)
        service["api_token"] = hub_secrets.secret_value(f"hub.services.{key}.apiToken")
        c.JupyterHub.services.append(service)
    for key, role in (get(values, "hub.loadRoles", {}) or {}).items():
        role.setdefault("name", key)
        c.JupyterHub.load_roles.append(role)
    c.JupyterHub.cookie_secret = hub_secrets.secret_value("hub.config.JupyterHub.cookie_secret")
    c.CryptKeeper.keys = hub_secrets.secret_value("hub.config.CryptKeeper.keys").split(";")
    reserved = {
        "JupyterHub": ("proxy_auth_token", "cookie_secret", "services"),
        "ConfigurableHTTPProxy": ("auth_token",),
        "CryptKeeper": ("keys",),
    }
    for section, cfg in (get(values, "hub.config", {}) or {}).items():
        for key in reserved.get(section, ()):
            cfg.pop(key, None)
        if not section[:1].isupper():
            raise ValueError(f"Invalid hub.config section name: {section}")
        c[section].update(cfg)
    # last, as Z2JH does: each hub.extraConfig snippet, in key order, in the namespace of its
    # jupyterhub_config.py: `c`, and z2jh's get_config and get_name
    scope = {
        "c": c,
        "get_config": lambda key, default=None: get(values, key, default),
        "get_name": lambda name: names[name],
    }
    for _, code in sorted((get(values, "hub.extraConfig", {}) or {}).items()):
        exec(compile(code, "hub.extraConfig", "exec"), scope)  # noqa: S102 - the chart's own
    return c
