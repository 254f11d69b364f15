"""Warnings that reach people away from JupyterLab: an optional command or webhook.

When the culler delivers a warning it calls, if configured, ``WarningNotifier.command`` (an argv
list run without a shell, the payload as JSON on its stdin) and/or POSTs the payload as JSON to
``WarningNotifier.url``, so a platform can send mail or chat. The payload::

    {"event": "gpu-idle-warning", "user": "alice", "server": "", "server_url": "/user/alice/",
     "stop_at": 1767225600.0, "stop_at_iso": "2026-01-01T00:00:00+00:00", "reason": "..."}

It carries no token or secret. A failure (missing command, non-zero exit, timeout, HTTP error)
is logged and never breaks the culling cycle.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Float, List, Unicode
from traitlets.config import LoggingConfigurable

from ..contract import CullWarning


def warning_event(user: str, server: str, server_url: str, stop_at: float, reason: str) -> dict:
    """The JSON payload of one warning (no tokens: only names, times and the reason)."""
    return {
        "event": "gpu-idle-warning",
        "user": user,
        "server": server,
        "server_url": server_url,
        "stop_at": stop_at,
        "stop_at_iso": datetime.fromtimestamp(stop_at, timezone.utc).isoformat(),
        "reason": reason,
    }


class WarningNotifier(LoggingConfigurable):
    """Calls a command and/or a webhook with each warning the culler delivers."""

    command = List(
        Unicode(),
        config=True,
        help="""Command run for each warning, as an argv list (no shell), e.g.
        ["/usr/local/bin/notify-gpu-warning"]; it gets the warning as JSON on stdin (user,
        server, server_url, stop_at, stop_at_iso, reason; never a token). Empty: none.""",
    )
    url = Unicode(
        "",
        config=True,
        help="""Webhook URL receiving each warning as a JSON POST (same payload as `command`).
        Put any credential the receiver needs in the URL's configuration, not in the payload.
        Empty: none.""",
    )
    timeout = Float(10.0, config=True, help="Seconds a command or webhook call may take.")

    async def notify(self, event: dict[str, Any]) -> bool:
        """Deliver one warning everywhere configured; True when every delivery succeeded."""
        body = json.dumps(event).encode()
        ok = True
        if self.command:
            ok = await self._run(body, event) and ok
        if self.url:
            ok = await self._post(body, event) and ok
        return ok

    async def _run(self, body: bytes, event: dict[str, Any]) -> bool:
        who = f"{event.get('user')}/{event.get('server')}"
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            self.log.warning(
                "Warning notification command %s failed to start: %s", self.command[0], e
            )
            return False
        try:
            _, err = await asyncio.wait_for(proc.communicate(body), self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            self.log.warning("Warning notification command for %s timed out", who)
            return False
        if proc.returncode:
            tail = err.decode(errors="replace").strip()[-500:]
            self.log.warning(
                "Warning notification command for %s exited %s: %s", who, proc.returncode, tail
            )
            return False
        return True

    async def _post(self, body: bytes, event: dict[str, Any]) -> bool:
        request = HTTPRequest(
            self.url,
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
            request_timeout=self.timeout,
            connect_timeout=self.timeout,
        )
        try:
            await AsyncHTTPClient().fetch(request)
        except Exception as e:  # noqa: BLE001 - any failure is logged, never raised
            self.log.warning(
                "Warning notification webhook for %s/%s failed: %s",
                event.get("user"),
                event.get("server"),
                e,
            )
            return False
        return True


async def notify_warning(app: Any, server: Any, payload: CullWarning) -> bool:
    """Notify about a warning just delivered to ``server`` (a HubServer), if configured.

    The notifier is built once per culler, as a child of ``app`` so it reads its config.
    """
    notifier = getattr(app, "_warning_notifier", None)
    if notifier is None:
        notifier = app._warning_notifier = WarningNotifier(parent=app)
    if not notifier.command and not notifier.url:
        return True
    event = warning_event(server.user, server.name, server.url, payload.stop_at, payload.reason)
    try:
        return await notifier.notify(event)
    except Exception:  # noqa: BLE001 - notifications never break the cycle
        notifier.log.exception("Warning notification for %s failed", server.log_name)
        return False
