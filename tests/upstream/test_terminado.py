"""What ``upstream/terminado.py`` relies on in the installed terminado: a manager calls
``start_reading(terminal)`` for each new terminal, and a client's stdin reaches
``terminal.ptyproc.write``. Checked with real terminals (a shell on a pty)."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any

from terminado.management import NamedTermManager, TermManagerBase
from terminado.websocket import TermSocket

from jupyterhub_imagine.upstream.terminado import (
    TERMINAL_MANAGER_SETTING,
    on_terminal_input,
    terminal_manager,
)


def test_start_reading_takes_the_new_terminal() -> None:
    params = list(inspect.signature(TermManagerBase.start_reading).parameters)
    assert params == ["self", "ptywclients"]


async def test_new_terminals_report_client_input_and_not_output() -> None:
    manager = NamedTermManager(shell_command=["/bin/sh"])
    try:
        await _input_and_output(manager)
    finally:
        await manager.shutdown()  # kills the shell


async def _input_and_output(manager: Any) -> None:
    inputs: list[str] = []
    assert on_terminal_input(manager, lambda: inputs.append("in"))
    name, terminal = manager.new_named_terminal()
    # the manager still reads the terminal (its own start_reading ran)
    assert manager.ptys_by_fd[terminal.ptyproc.fd] is terminal

    # what terminado's websocket does with a "stdin" message, without the executor around it
    deliver = inspect.unwrap(TermSocket.stdin_to_ptyproc)
    deliver(SimpleNamespace(terminal=terminal), "echo imagine-$((40+2))\r")
    assert inputs == ["in"]

    # the shell's output arrives, and is not input
    seen = ""
    async with asyncio.timeout(30):
        while "imagine-42" not in seen:
            await asyncio.sleep(0.05)
            seen = "".join(terminal.read_buffer)
    assert inputs == ["in"]


def test_a_manager_without_start_reading_gives_no_input_hook() -> None:
    assert on_terminal_input(SimpleNamespace(), lambda: None) is False


def test_jupyter_server_terminals_publishes_its_manager_under_that_setting() -> None:
    from jupyter_server_terminals import app

    assert f'"{TERMINAL_MANAGER_SETTING}"' in inspect.getsource(app.TerminalsExtensionApp)
    assert terminal_manager({TERMINAL_MANAGER_SETTING: "m"}) == "m"
