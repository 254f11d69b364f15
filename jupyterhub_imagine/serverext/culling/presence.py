"""Presence from what a person does through the server, whatever the client.

The labextension reports keys and clicks, but a server used from VS Code, a terminal, the
classic notebook or the REST API has no Lab tab. :class:`ServerPresence` records presence in
the same :class:`~.culling.CullingState` from:

* **execute requests**: every kernel's IOPub ``execute_input`` message, which a kernel
  broadcasts for each non-silent ``execute_request`` from any client (Lab, VS Code, the classic
  notebook, a plain websocket or ZMQ client). It subscribes through the kernel manager's public
  ``connect_iopub()`` when jupyter-server's ``kernel_actions`` event says a kernel started.
  Silent executes (what frontends run in the background) are not broadcast and do not count;
  neither does any kernel output.
* **file saves**: a contents manager pre-save hook (``register_pre_save_hook``). A notebook
  save counts only when a cell's source changed since the last save this server saw, so
  Lab's autosave of outputs written by a running kernel is not presence; other files count on
  every save.

* **terminal input**: keystrokes a client sends to a terminal (``stdin`` websocket messages),
  through ``upstream/terminado.py`` (terminado has no public hook for input; terminal output
  does not count). If a terminado release changes, terminals give no presence (logged).

Polling (``GET /api/kernels``, ``/api/contents``, ``/api/sessions``, status) never reaches these
hooks.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from ...upstream.terminado import on_terminal_input, terminal_manager
from .state import CullingState

log = logging.getLogger(__name__)

KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


def sources_digest(model: dict[str, Any]) -> str | None:
    """A digest of a notebook model's cell sources (None when it is not a notebook)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return None
    h = hashlib.sha256()
    for cell in model["content"].get("cells") or []:
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        h.update(str(source).encode("utf-8", "replace"))
        h.update(b"\0")
    return h.hexdigest()


class ServerPresence:
    """Feeds a CullingState with execute requests and saves; attach once per server."""

    def __init__(self, state: CullingState) -> None:
        self.state = state
        self._streams: dict[str, Any] = {}
        self._digests: dict[str, str] = {}
        self._kernel_manager: Any = None

    # -- wiring ----------------------------------------------------------------------------

    def attach(self, serverapp: Any) -> None:
        """Listen to kernel starts and saves of this server (public jupyter-server APIs)."""
        self._kernel_manager = serverapp.kernel_manager
        serverapp.event_logger.add_listener(schema_id=KERNEL_ACTIONS, listener=self._on_action)
        serverapp.contents_manager.register_pre_save_hook(self.pre_save)
        for kernel_id in self._kernel_manager.list_kernel_ids():
            self.watch(kernel_id)
        terminals = terminal_manager(serverapp.web_app.settings)
        if terminals is not None:
            self.attach_terminals(terminals)

    def close(self) -> None:
        for kernel_id in list(self._streams):
            self.unwatch(kernel_id)

    async def _on_action(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        kernel_id = data.get("kernel_id")
        if not kernel_id or data.get("status") != "success":
            return
        if data.get("action") in ("start", "restart"):
            self.watch(kernel_id)
        elif data.get("action") == "shutdown":
            self.unwatch(kernel_id)

    # -- execute requests --------------------------------------------------------------------

    def watch(self, kernel_id: str) -> None:
        """Subscribe to a kernel's IOPub for execute_input (idempotent)."""
        if kernel_id in self._streams or self._kernel_manager is None:
            return
        try:
            kernel = self._kernel_manager.get_kernel(kernel_id)
            stream = kernel.connect_iopub()
        except Exception as e:  # noqa: BLE001 - no presence from this kernel, never a failure
            log.warning("No execute presence from kernel %s: %s", kernel_id, e)
            return
        stream.on_recv(self._receiver(kernel.session))
        self._streams[kernel_id] = stream

    def unwatch(self, kernel_id: str) -> None:
        stream = self._streams.pop(kernel_id, None)
        if stream is not None:
            stream.close()

    def _receiver(self, session: Any) -> Callable[[list[bytes]], None]:
        def on_message(parts: list[bytes]) -> None:
            try:
                _, fed = session.feed_identities(parts)
                msg = session.deserialize(fed, content=False)
            except Exception as e:  # noqa: BLE001 - a bad or unsigned message is not presence
                log.debug("Ignoring an IOPub message: %s", e)
                return
            if msg["header"].get("msg_type") == "execute_input":
                self.state.record_server_presence("execute")

        return on_message

    # -- terminal input -----------------------------------------------------------------------

    def attach_terminals(self, manager: Any) -> None:
        """Record presence for input to each terminal this manager starts (see module doc)."""
        on_terminal_input(manager, self._terminal_input)

    def _terminal_input(self) -> None:
        self.state.record_server_presence("terminal")

    # -- saves -------------------------------------------------------------------------------

    def pre_save(self, model: dict[str, Any], path: str, **kwargs: Any) -> None:
        """Contents manager pre-save hook: a person saved a file (see the module doc)."""
        digest = sources_digest(model)
        if digest is None:
            if model.get("type") in ("file", "notebook"):
                self.state.record_server_presence("save")
            return
        if self._digests.get(path) != digest:
            self._digests[path] = digest
            self.state.record_server_presence("save")
