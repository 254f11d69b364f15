#!/usr/bin/env python3
"""Render jupyterhub-imagine with a real Zero-to-JupyterHub chart and check every object strictly.

CI renders the chart against a stub of Z2JH (tests/helm), because the Z2JH repository cannot be
reached there. Anyone with a Z2JH checkout runs the real check with this script:

    git clone --branch 4.4.0 https://github.com/jupyterhub/zero-to-jupyterhub-k8s /tmp/z2jh
    .venv/bin/python helm/validate-against-z2jh.py /tmp/z2jh

Z2JH_SOURCE is a checkout at a release tag (or its jupyterhub/ folder, or a packaged chart). The
source is prepared the way Z2JH's release does it, in a temporary copy (the checkout is not
touched): values.schema.json generated from values.schema.yaml (descriptions dropped), the
chart version set, and every image tag "set-by-chartpress" replaced with the release's tag.

For each variant (the defaults with the required values, every file in helm/examples/, and
each of those with `fullnameOverride` and with autohttps), it runs `helm lint --strict` and
`helm template` (Z2JH's schema checks what we pass down), validates every rendered object with
kubernetes-validate in strict mode for each Kubernetes version, and completes the culler
service the way the hub does at start (jupyterhub_imagine.startup.wire_z2jh_services, fed with
the rendered hub Secret and Z2JH's name ConfigMap): each URL must name a Service of the render,
on a port that Service has. Exit status 0 when everything passes.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
CHART = HERE / "jupyterhub-imagine"
EXAMPLES = HERE / "examples"
sys.path.insert(0, str(HERE.parent))  # jupyterhub_imagine from this checkout

REQUIRED = {
    "jupyterhub": {
        "hub": {
            "image": {"name": "registry.example.org/imagine/k8s-hub", "tag": "0.1.0"},
            "extraEnv": {
                "OAUTH_CLIENT_SECRET": {"valueFrom": {"secretKeyRef": {"name": "imagine-hub"}}}
            },
            "config": {"ImagineOAuthenticator": {"client_id": "imagine-notebooks"}},
        }
    }
}
OVERLAYS: dict[str, dict[str, Any]] = {
    "": {},
    "+fullnameOverride": {"jupyterhub": {"fullnameOverride": "ai"}},
    "+autohttps": {
        "jupyterhub": {
            "proxy": {
                "https": {
                    "enabled": True,
                    "type": "letsencrypt",
                    "hosts": ["ai.example.org"],
                    "letsencrypt": {"contactEmail": "admin@example.org"},
                }
            }
        }
    },
}


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(args)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def z2jh_folder(source: Path) -> Path:
    for candidate in (source / "jupyterhub", source):
        chart = candidate / "Chart.yaml"
        if chart.is_file() and yaml.safe_load(chart.read_text()).get("name") == "jupyterhub":
            return candidate
    raise SystemExit(f"{source}: no Zero-to-JupyterHub chart (jupyterhub/Chart.yaml) there")


def _drop_descriptions(schema: dict[str, Any]) -> None:
    """What Z2JH's tools/generate-json-schema.py does before a release."""
    schema.pop("description", None)
    for value in (schema.get("properties") or {}).values():
        if isinstance(value, dict):
            _drop_descriptions(value)


def prepare(source: Path, tag: str, work: Path) -> Path:
    """A copy of our chart with the prepared Z2JH chart as charts/jupyterhub."""
    chart = work / "jupyterhub-imagine"
    shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    z2jh = chart / "charts" / "jupyterhub"
    shutil.copytree(z2jh_folder(source), z2jh)
    if not (z2jh / "values.schema.json").exists():
        schema = yaml.safe_load((z2jh / "values.schema.yaml").read_text())
        _drop_descriptions(schema)
        (z2jh / "values.schema.json").write_text(json.dumps(schema))
    meta = z2jh / "Chart.yaml"
    meta.write_text(re.sub(r"(?m)^version: .*set.by.chartpress.*$", f"version: {tag}",
                           meta.read_text()))
    values = z2jh / "values.yaml"
    values.write_text(values.read_text().replace('"set-by-chartpress"', f'"{tag}"'))
    wanted = yaml.safe_load((CHART / "Chart.yaml").read_text())["dependencies"][0]["version"]
    found = yaml.safe_load(meta.read_text())["version"]
    if found != wanted:
        print(f"note: Z2JH {found}, while Chart.yaml depends on {wanted}")
    return chart


def variants(work: Path) -> dict[str, list[Path]]:
    base = {"defaults": work / "required.yaml"}
    base["defaults"].write_text(yaml.safe_dump(REQUIRED))
    for example in sorted(EXAMPLES.glob("*.yaml")):
        base[example.stem] = example
    found = {}
    for name, path in base.items():
        for suffix, overlay in OVERLAYS.items():
            files = [path]
            if overlay:
                extra = work / f"{name}{suffix}.yaml"
                extra.write_text(yaml.safe_dump(overlay))
                files.append(extra)
            found[name + suffix] = files
    return found


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def validate(objects: list[dict[str, Any]], versions: list[str]) -> None:
    for obj in objects:
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except Exception as exc:  # each validation error class of the package
                name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
                raise SystemExit(f"FAILED: {name} on Kubernetes {version}: {exc}") from None


def check_service_urls(objects: list[dict[str, Any]]) -> list[str]:
    """Complete the culler service as the hub does; each URL must hit a rendered Service port."""
    from jupyterhub_imagine.startup import CULLER_SERVICE, wire_z2jh_services

    (secret,) = [o for o in objects if o["kind"] == "Secret" and "values.yaml" in o.get("data", {})]
    values = yaml.safe_load(base64.b64decode(secret["data"]["values.yaml"]))
    (names,) = [o["data"] for o in objects
                if o["kind"] == "ConfigMap" and "proxy-public" in (o.get("data") or {})]

    def get_config(key: str, default: Any = None) -> Any:
        value: Any = values
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    services = [dict(s, name=k) for k, s in (get_config("hub.services", {}) or {}).items()]
    c = argparse.Namespace(JupyterHub=argparse.Namespace(services=services))
    wire_z2jh_services(c, get_config, names.__getitem__)
    (culler,) = [s for s in services if s["name"] == CULLER_SERVICE]
    ports = {o["metadata"]["name"]: {p["port"] for p in o["spec"]["ports"]}
             for o in objects if o["kind"] == "Service"}
    urls = [culler["url"], culler["environment"]["JUPYTERHUB_IMAGINE_SERVERS_URL"]]
    for url in urls:
        parsed = urlparse(url)
        port = parsed.port or 80
        if port not in ports.get(parsed.hostname or "", set()):
            raise SystemExit(f"FAILED: {url}: no Service {parsed.hostname} with port {port} "
                             f"(Services: {ports})")
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="Z2JH checkout at a release tag")
    parser.add_argument("--tag", default="4.4.0", help="Z2JH release tag (image tags, version)")
    parser.add_argument("--kube", default="1.30.0,1.33.0,1.37.0",
                        help="Kubernetes versions to validate against, comma-separated")
    parser.add_argument("--helm", default=shutil.which("helm", path=str(Path(sys.executable)
                                                                      .parent)) or "helm")
    args = parser.parse_args()
    versions = args.kube.split(",")
    with tempfile.TemporaryDirectory(prefix="imagine-z2jh-") as tmp:
        work = Path(tmp)
        chart = prepare(args.source.resolve(), args.tag, work)
        for name, files in variants(work).items():
            flags = [a for f in files for a in ("--values", str(f))]
            run(args.helm, "lint", "--strict", str(chart), *flags)
            objects = documents(run(args.helm, "template", "jhub", str(chart),
                                    "--namespace", "jhub", *flags))
            validate(objects, versions)
            urls = check_service_urls(objects)
            print(f"ok  {name:32} {len(objects):3} objects  culler {' '.join(urls)}")
    print("all variants rendered and validated against the real Z2JH chart")


if __name__ == "__main__":
    main()
