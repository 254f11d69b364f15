"""jupyter-server: which API requests count as user activity.

jupyter-server stamps the time of each authenticated API request it answers; ``/api/status``
reports it as ``last_activity``, jupyterhub-singleuser passes it on to the hub, and the hub's
idle culler stops servers by it. A poll from an open tab must not keep an idle server alive.

jupyter-server's own handlers opt out with a private class attribute, ``_track_activity``. We
use the public method that reads it instead: ``APIHandler.finish()`` calls
``update_api_activity()``, and a handler that skips it is not counted. No private attribute is
used; ``tests/upstream/test_jupyter_server.py`` fails if ``finish()`` stops calling it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

from jupyter_server.base.handlers import APIHandler

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Activity(Enum):
    """Which requests of a handler count as a person's activity on the server."""

    ALL = "all"  # jupyter-server's default
    WRITES = "writes"  # reads are polls; writes are user actions
    NONE = "none"  # machine traffic (the culler) or answers that carry no action


class ActivityRuleHandler(APIHandler):
    """An APIHandler whose ``activity`` class attribute says which requests are activity."""

    activity: ClassVar[Activity] = Activity.WRITES

    def counts_as_activity(self) -> bool:
        """Whether this request moves the server's ``last_activity``."""
        if self.activity is Activity.ALL:
            return True
        if self.activity is Activity.WRITES:
            return self.request.method in WRITE_METHODS
        return False

    def update_api_activity(self, *args: Any, **kwargs: Any) -> None:
        if self.counts_as_activity():
            super().update_api_activity(*args, **kwargs)
