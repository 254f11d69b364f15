"""terminado: a callback for each input a client sends to a terminal.

terminado has no hook for terminal input. What we rely on instead (terminado 0.18):

* a terminal manager calls its public ``start_reading(terminal)`` once for each new terminal
  (``NamedTermManager.new_named_terminal`` and ``get_terminal``);
* ``TermSocket.stdin_to_ptyproc`` delivers each websocket ``stdin`` message to
  ``terminal.ptyproc.write``; terminal output never goes through it.

:func:`on_terminal_input` wraps both on one manager instance (no class is patched).
``tests/upstream/test_terminado.py`` fails when either stops being true. If a terminado release
renames them, terminals just give no presence, and the reason is logged at startup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: where jupyter-server-terminals publishes its terminado manager in the web app's settings
TERMINAL_MANAGER_SETTING = "terminal_manager"


def terminal_manager(settings: dict[str, Any]) -> Any | None:
    """The server's terminado terminal manager, or None when terminals are off."""
    return settings.get(TERMINAL_MANAGER_SETTING)


def on_terminal_input(manager: Any, callback: Callable[[], None]) -> bool:
    """Call ``callback()`` on every input written to a terminal ``manager`` starts from now on.

    Returns False (and logs why) when the installed terminado no longer has the hooks.
    """
    start_reading = getattr(manager, "start_reading", None)
    if start_reading is None:
        log.warning("No presence from terminal input: terminado has no start_reading")
        return False

    def start_reading_with_input_hook(terminal: Any) -> Any:
        wrap_terminal(terminal, callback)
        return start_reading(terminal)

    manager.start_reading = start_reading_with_input_hook
    return True


def wrap_terminal(terminal: Any, callback: Callable[[], None]) -> bool:
    """Call ``callback()`` before each write of client input to this terminal's process."""
    ptyproc = getattr(terminal, "ptyproc", None)
    write = getattr(ptyproc, "write", None)
    if write is None:
        log.warning("No presence from terminal input: the terminal has no ptyproc.write")
        return False

    def write_with_input_hook(data: Any) -> Any:
        callback()
        return write(data)

    ptyproc.write = write_with_input_hook  # type: ignore[union-attr]
    return True
