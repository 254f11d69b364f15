"""The wheel the project builds carries the prebuilt labextension and enables the server extension:
installed into a fresh environment with no Node.js reachable, JupyterLab and jupyter-server list
both as enabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], **kw) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, **kw)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.timeout(1200)
def test_wheel_installs_without_node_and_enables_both_extensions(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)])
    wheel = next(dist.glob("jupyterhub_imagine-*.whl"))
    # the demo's development OpenID provider and sample users (passwords) stay in the clone
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        shipped = b"".join(zf.read(n) for n in names if n.endswith((".py", ".json", ".mjs")))
    assert not [n for n in names if "/demo/" in n or n.endswith(("users.json", ".mjs"))], names
    users = json.loads((REPO / "jupyterhub_imagine" / "demo" / "users.json").read_text())["users"]
    for user in users:  # no sample credential, in whatever file
        assert json.dumps({"password": user["password"]})[1:-1].encode() not in shipped
    assert b"oidc-provider" not in shipped
    assert not any("jupyterhub-imagine-demo" in n for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    # Only the new environment's own scripts are reachable: no node, no npm.
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", str(tmp_path)),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[lab]"], env=env)

    labext = run([str(bin_dir / "jupyter"), "labextension", "list"], env=env)
    line = next((ln for ln in labext.splitlines() if "jupyterhub-imagine" in ln), "")
    assert "enabled" in line and "OK" in line, labext
    server = run([str(bin_dir / "jupyter"), "server", "extension", "list"], env=env)
    assert any("jupyterhub_imagine" in ln and "enabled" in ln for ln in server.splitlines()), server
