"""Presence from non-Lab clients, through a real jupyter-server with the extension and a real
ipykernel: execute requests from a plain websocket client and file saves count; background
polling and kernel output do not. NVML is the FAKE module (no GPU here)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from jupyterhub_imagine.serverext.culling.state import CullingState
from tests.support import fake_nvml

pytestmark = pytest.mark.fake

SESSION = uuid.uuid4().hex


@pytest.fixture
def jp_server_config(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    path = tmp_path / "nvml.json"
    fake_nvml.write_state(str(path), [fake_nvml.a100("GPU-0", utilization=0)])
    monkeypatch.setenv("IMAGINE_FAKE_NVML", str(path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0")
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {
            "nvml_module": "tests.support.fake_nvml",
            "mounts_enabled": False,
            "software_enabled": False,
            "culling_sample_every": 0.0,
        },
    }


@pytest.fixture
def seen(jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds of server-seen presence recorded, in order."""
    state: CullingState = jp_serverapp.web_app.settings["imagine_culling"]
    kinds: list[str] = []
    record = state.record_server_presence

    def spy(kind: str) -> float:
        kinds.append(kind)
        return record(kind)

    monkeypatch.setattr(state, "record_server_presence", spy)
    return kinds


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Readiness wait: poll ``condition`` until true or fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def execute_request(code: str, *, silent: bool = False) -> tuple[str, str]:
    msg_id = uuid.uuid4().hex
    msg = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "vscode",
            "session": SESSION,
            "date": datetime.now(timezone.utc).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }
    return msg_id, json.dumps(msg)


async def execute(ws: Any, code: str, *, silent: bool = False) -> None:
    """Send one execute request on the shell channel and wait for its reply."""
    msg_id, text = execute_request(code, silent=silent)
    await ws.write_message(text)
    while True:
        raw = await asyncio.wait_for(ws.read_message(), 60)
        assert raw is not None, "kernel websocket closed"
        msg = json.loads(raw)
        if msg.get("channel") == "shell" and msg["parent_header"].get("msg_id") == msg_id:
            assert msg["content"]["status"] == "ok", msg["content"]
            return


async def test_execute_from_a_plain_kernel_websocket_is_presence_polling_is_not(
    jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, seen: list[str]
) -> None:
    state: CullingState = jp_serverapp.web_app.settings["imagine_culling"]
    body = json.dumps({"name": "python3"})
    kernel = json.loads((await jp_fetch("api", "kernels", method="POST", body=body)).body)
    kid = kernel["id"]
    ws = await jp_ws_fetch("api", "kernels", kid, "channels")
    try:
        # the first execute requests may race the IOPub subscription (ZMQ's slow joiner):
        # run until the extension sees one, then start counting
        for _ in range(100):
            await execute(ws, "x = 1")
            if seen:
                break
            await asyncio.sleep(0.1)
        assert seen and seen[-1] == "execute"
        assert state.last_presence_kind == "execute"
        seen.clear()
        state.last_presence = None

        # background polling as Lab, VS Code or a dashboard does it
        polls = [("api", "kernels"), ("api", "kernels", kid), ("api", "contents")]
        polls += [("api", "sessions"), ("api", "status"), ("jupyterhub-imagine", "api", "activity")]
        for path in polls:
            await jp_fetch(*path)
        # kernel output only: a silent request (what frontends run in the background) printing
        await execute(ws, "print('background output')", silent=True)
        assert state.last_presence is None
        # a person runs a cell: the execute_input comes after everything above on IOPub
        await execute(ws, "y = 2")
        await until(lambda: bool(seen))
        assert seen == ["execute"]
        activity = json.loads((await jp_fetch("jupyterhub-imagine", "api", "activity")).body)
        assert activity["last_presence"] == state.last_presence is not None
    finally:
        ws.close()
        await jp_fetch("api", "kernels", kid, method="DELETE")


def notebook(source: str, output: str = "") -> str:
    cell: dict[str, Any] = {
        "id": "c1",
        "cell_type": "code",
        "execution_count": 1 if output else None,
        "metadata": {},
        "source": source,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": output}] if output else [],
    }
    content = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps({"type": "notebook", "format": "json", "content": content})


async def test_saves_are_presence_but_an_autosave_of_kernel_output_is_not(
    jp_fetch: Any, seen: list[str]
) -> None:
    async def put(path: str, body: str) -> None:
        await jp_fetch("api", "contents", path, method="PUT", body=body)

    await put("a.ipynb", notebook("train()"))
    assert seen == ["save"]
    # the kernel printed and Lab autosaved the outputs: the sources are unchanged
    await put("a.ipynb", notebook("train()", "epoch 1\n"))
    await put("a.ipynb", notebook("train()", "epoch 1\nepoch 2\n"))
    await jp_fetch("api", "contents")
    await jp_fetch("api", "contents", "a.ipynb")
    assert seen == ["save"]
    # the person edited a cell
    await put("a.ipynb", notebook("train(epochs=3)", "epoch 1\nepoch 2\n"))
    text = json.dumps({"type": "file", "format": "text", "content": "print(1)\n"})
    await put("b.py", text)
    assert seen == ["save", "save", "save"]


async def test_terminal_input_is_presence_its_output_is_not(
    jp_fetch: Any, jp_ws_fetch: Any, seen: list[str]
) -> None:
    name = json.loads((await jp_fetch("api", "terminals", method="POST", body="{}")).body)["name"]
    ws = await jp_ws_fetch("terminals", "websocket", name)
    try:
        # the shell's prompt is terminal output; polling the terminals list is not input
        while True:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 60))
            if msg[0] == "stdout":
                break
        await jp_fetch("api", "terminals")
        await ws.write_message(json.dumps(["set_size", 24, 80, 600, 800]))
        assert seen == []
        await ws.write_message(json.dumps(["stdin", "echo hello\r"]))
        await until(lambda: bool(seen))
        assert set(seen) == {"terminal"}
    finally:
        ws.close()
        await jp_fetch("api", "terminals", name, method="DELETE")
