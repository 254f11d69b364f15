"""What differs between the JupyterHub lines the bundle runs on: 5.5 (what Zero-to-JupyterHub 4.4
ships, with KubeSpawner 7.0) and 6.x (with KubeSpawner 7.1). The rest of the package uses these
names only, so the differences live in this one module:

- 6.x has ``SpawnException``, a handled refusal that the hub shows as it is and does not count
  toward ``Spawner.consecutive_failure_limit``. 5.5 lacks it, counts every failed spawn and shows
  ``str(exc)`` unless the exception has ``jupyterhub_message``.
- 6.x strips the ``opt-`` prefix of launch-link query keys; 5.5 passes them on unchanged.

On 5.5, a refusal raised inside a spawn (through the REST API, or a race lost after the form's
check) is kept out of the failure count by ``upstream.jupyterhub.keep_out_of_failure_count``,
the one place that touches JupyterHub's private spawn details; ``tests/upstream`` checks them on
both lines and ``tests/spawner/test_local_hub.py`` refuses more spawns than the limit through a
real hub, so a change there fails a test rather than restarting hubs.
"""

from __future__ import annotations

from collections.abc import Mapping

import jupyterhub
from tornado import web

try:  # JupyterHub >= 6
    from jupyterhub.spawner import SpawnException as _HubSpawnException
except ImportError:  # JupyterHub 5.x
    _HubSpawnException = None

HUB_VERSION: str = jupyterhub.__version__

_Base: type[web.HTTPError] = _HubSpawnException or web.HTTPError


class SpawnRefused(_Base):  # type: ignore[valid-type,misc]
    """A spawn refused by policy (quota, capacity, entitlement, bad options), not a failure.

    ``message`` is what the user sees, on both lines; ``reason`` is a short label (``quota``,
    ``capacity``, ``options``); ``status_code`` the HTTP status of the refusal.
    """

    def __init__(self, message: str, *, reason: str, status_code: int = 400) -> None:
        if _HubSpawnException is not None:
            super().__init__(message, reason=reason, status_code=status_code)
        else:  # tornado formats log_message with `%`: a "%" in the message stays literal
            web.HTTPError.__init__(self, status_code, message.replace("%", "%%"), reason=reason)
            self.message = message
        self.refusal = reason  # 5.x overwrites `reason` with "error" on the way out
        # Both lines show this to the user instead of the exception's text.
        self.jupyterhub_message = message

    def __str__(self) -> str:
        return f"{self.status_code} {type(self).__name__}(reason={self.refusal}): {self.message}"


def query_options(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Launch-link query keys as 6.x hands them to ``options_from_query``.

    Keys with the ``opt-`` prefix win and lose the prefix; without any, keys are taken as they
    are. On 6.x the hub has done this already (a no-op then).
    """
    prefixed = {k[4:]: v for k, v in query.items() if k.startswith("opt-") and k[4:]}
    return prefixed or dict(query)
