"""The /software API on a real jupyter-server over a /cvmfs-like tree; kernels really start."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import AsyncKernelManager
from tornado.httpclient import HTTPClientError

from tests.serverext import cvmfs_tree
from tests.serverext.webdav_support import mounts_under, needs_fuse, unmount_leftovers

pytestmark = pytest.mark.fake

API = ("jupyterhub-imagine", "api", "software")
REPOS = [
    "software.eessi.io",
    "sft.cern.ch",
    "unpacked.cern.ch",
    "empty.repo",
    "loop.repo",
    "missing.repo",
]


@pytest.fixture
def cvmfs_root(tmp_path: Path) -> Path:
    return cvmfs_tree.build(tmp_path / "cvmfs")


@pytest.fixture
def jp_server_config(cvmfs_root: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {"nvml_module": "tests.support.fake_nvml"},
        "ImagineSoftwareCatalog": {
            "root": str(cvmfs_root),
            "repositories": REPOS,
            "lmod_command": "",
            "lmod_init": "",
            "apptainer_command": "apptainer-not-installed",
        },
    }


async def _get(jp_fetch: Any, *parts: str, **params: Any) -> dict[str, Any]:
    response = await jp_fetch(*API, *parts, params=params)
    return json.loads(response.body)


async def test_repositories_report_their_health(jp_fetch: Any) -> None:
    body = await _get(jp_fetch)
    states = {r["name"]: (r["state"], r["error"]) for r in body["repositories"]}
    assert states == {
        "software.eessi.io": ("mounted", ""),
        "sft.cern.ch": ("mounted", ""),
        "unpacked.cern.ch": ("mounted", ""),
        "empty.repo": ("missing", ""),
        "loop.repo": ("broken", "ELOOP"),
        "missing.repo": ("missing", "ENOENT"),
    }


async def test_stacks_are_found_in_both_layouts(jp_fetch: Any) -> None:
    stacks = (await _get(jp_fetch, "stacks"))["stacks"]
    assert [(s["kind"], s["id"], s["version"]) for s in stacks] == [
        ("eessi", cvmfs_tree.EESSI_STACK, "2023.06"),
        ("lcg", cvmfs_tree.LCG_STACK, "LCG_105 x86_64-el9-gcc13-opt"),
    ]
    assert stacks[0]["init"] == f"{cvmfs_tree.EESSI_STACK}/init/bash"


async def test_modules_come_from_the_catalog_and_page(jp_fetch: Any) -> None:
    body = await _get(jp_fetch, "modules", stack=cvmfs_tree.EESSI_STACK)
    assert body["source"] == "catalog"
    assert body["modules"] == [
        "GCC/12.3.0",
        "GCC/13.2.0",
        "Python/3.11.3",
        "SciPy-bundle/2023.07-gfbf",
    ]
    page = await _get(jp_fetch, "modules", stack=cvmfs_tree.EESSI_STACK, offset=1, limit=2)
    assert page["modules"] == ["GCC/13.2.0", "Python/3.11.3"] and page["total"] == 4


async def test_images_are_listed_lazily_page_by_page(jp_fetch: Any) -> None:
    seen: list[tuple[str, str]] = []
    cursor = ""
    pages = 0
    while True:
        params = {"path": "unpacked.cern.ch/images", "kind": "image", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = await _get(jp_fetch, "browse", **params)
        pages += 1
        seen += [(e["name"], e["kind"]) for e in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [("nested", "dir"), ("tool.sif", "image")]
    assert pages >= 2


@pytest.mark.skipif(shutil.which("apptainer") is not None, reason="apptainer is installed")
async def test_image_kernel_without_apptainer_says_so(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as err:
        body = {"kind": "image", "id": cvmfs_tree.IMAGE}
        await jp_fetch(*API, "kernels", method="POST", body=json.dumps(body))
    assert err.value.code == 501
    assert "Apptainer" in json.loads(err.value.response.body)["message"]


async def _run_in_kernel(kernel_name: str, code: str) -> str:
    manager = AsyncKernelManager(kernel_name=kernel_name)
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    try:
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive(code, output_hook=hook, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return "".join(out)


async def test_a_stack_kernel_starts_and_sees_the_stack(jp_fetch: Any) -> None:
    body = {"kind": "stack", "id": cvmfs_tree.EESSI_STACK, "modules": ["GCC/12.3.0"]}
    response = await jp_fetch(*API, "kernels", method="POST", body=json.dumps(body))
    assert response.code == 201
    created = json.loads(response.body)
    name = created["name"]
    assert created["display_name"] == "software.eessi.io 2023.06"

    # the server offers it at once: no restart
    specs = json.loads((await jp_fetch("api", "kernelspecs")).body)["kernelspecs"]
    assert specs[name]["spec"]["argv"][-1] == "{connection_file}"
    kernels = (await _get(jp_fetch, "kernels"))["kernels"]
    assert [k["name"] for k in kernels] == [name]

    code = "import os; print(os.environ.get('EESSI_VERSION'), os.environ.get('LOADED_GCC'))"
    assert (await _run_in_kernel(name, code)).split() == ["2023.06", "GCC/12.3.0"]

    response = await jp_fetch(*API, "kernels", name, method="DELETE")
    assert response.code == 204
    specs = json.loads((await jp_fetch("api", "kernelspecs")).body)["kernelspecs"]
    assert name not in specs


async def test_a_module_that_does_not_exist_stops_the_kernel_start(jp_fetch: Any) -> None:
    body = {"kind": "stack", "id": cvmfs_tree.EESSI_STACK, "modules": ["Nope/1.0"]}
    name = json.loads((await jp_fetch(*API, "kernels", method="POST", body=json.dumps(body))).body)[
        "name"
    ]
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(_run_in_kernel(name, "print(1)"), 30)


@needs_fuse
async def test_a_repository_whose_client_died_is_broken_enotconn(
    jp_fetch: Any, cvmfs_root: Path, tmp_path: Path, jp_serverapp: Any
) -> None:
    """A real FUSE mount whose process is killed, as when a CVMFS client crashes."""
    source = tmp_path / "dead-source"
    source.mkdir()
    (source / "file").write_text("x")
    point = cvmfs_root / "missing.repo"
    point.mkdir()
    proc = subprocess.Popen(
        ["rclone", "mount", f":local:{source}", str(point)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30  # rclone can be slow to mount on a loaded machine
        while not os.path.ismount(point) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert os.path.ismount(point), "rclone did not mount the repository"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        body = await _get(jp_fetch)
        states = {r["name"]: (r["state"], r["error"]) for r in body["repositories"]}
        assert states["missing.repo"] == ("broken", "ENOTCONN")
    finally:
        if proc.poll() is None:
            proc.kill()
        unmount_leftovers(cvmfs_root)
    assert mounts_under(cvmfs_root) == []
