"""The contract between the hub, the idle-GPU culler and the user servers.

Both sides import this module: the names a deployment gives the culler service and how a server
learns it, the routes of the server extension the culler calls, and the payloads they exchange
(warnings, activity) with their validation. ``docs/deployment.md`` draws who calls whom; a test
checks the labextension's TypeScript types and the chart's defaults against this module.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

#: Hub service name of the culler when a deployment does not choose one (the chart's name).
DEFAULT_CULLER_SERVICE = "imagine-culler"
#: The console script that runs the culler; a hub service with this command is the culler.
CULLER_COMMAND = "jupyterhub-imagine-culler"

#: Set by the spawners in every user server: the culler service name the server must accept.
ENV_CULLER_SERVICE = "JUPYTERHUB_IMAGINE_CULLER_SERVICE"
#: Set by the spawners: the profile slug the server was started with.
ENV_PROFILE = "JUPYTERHUB_IMAGINE_PROFILE"
#: Culler: the origin through which user servers are reached (the proxy).
ENV_SERVERS_URL = "JUPYTERHUB_IMAGINE_SERVERS_URL"
#: Culler: the address its HTTP endpoints listen on when it differs from the service URL.
ENV_CULLER_BIND_URL = "JUPYTERHUB_IMAGINE_CULLER_BIND_URL"

#: The server extension's API, under each server's base URL (no leading slash).
API_PREFIX = "jupyterhub-imagine/api"
ROUTE_ACTIVITY = "activity"
ROUTE_PRESENCE = "presence"
ROUTE_WARNING = "warning"
ROUTE_KEEP = "warning/keep"
#: Git facts about a file for the Share button's launch links (``?path=``).
ROUTE_SHARE = "share"

#: The culler service's own routes, under its service prefix (/services/<name>/).
CULLER_ROUTE_WARNINGS = "warnings"
CULLER_ROUTE_METRICS = "metrics"

#: What the labextension reports as a person's presence.
PRESENCE_KINDS = frozenset({"key", "click", "focus"})


class ContractError(ValueError):
    """A payload that does not follow the contract; the message says which field and why."""


def culler_service_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The culler service name a user server accepts (set by the spawner)."""
    env = os.environ if environ is None else environ
    return env.get(ENV_CULLER_SERVICE) or DEFAULT_CULLER_SERVICE


def culler_service_from_services(services: object) -> str | None:
    """The name of the culler among ``JupyterHub.services`` entries: the one running
    :data:`CULLER_COMMAND`, else one named :data:`DEFAULT_CULLER_SERVICE`; None if neither."""
    if not isinstance(services, (list, tuple)):
        return None
    named = None
    for spec in services:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            continue
        command = spec.get("command") or [""]
        if isinstance(command, (list, tuple)) and os.path.basename(str(command[0])) == (
            CULLER_COMMAND
        ):
            return str(spec["name"])
        if spec["name"] == DEFAULT_CULLER_SERVICE:
            named = DEFAULT_CULLER_SERVICE
    return named


def _number(body: Mapping[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ContractError(f"field {key!r} must be a finite number, got {type(value).__name__}")
    if value < 0:
        raise ContractError(f"field {key!r} must be >= 0")
    return float(value)


@dataclass(frozen=True)
class CullWarning:
    """A pending warning: the culler PUTs it; the server, Lab and the hub home page show it."""

    issued_at: float
    stop_at: float
    reason: str
    postponements_left: int
    postpone_by: float
    keep_requested_at: float | None = None

    MAX_REASON = 500

    @classmethod
    def parse(cls, body: object) -> CullWarning:
        """Validate a warning from JSON; raises ContractError naming the bad field."""
        if not isinstance(body, Mapping):
            raise ContractError("the warning must be a JSON object")
        unknown = set(body) - {f.name for f in fields(cls)}
        if unknown:
            raise ContractError(f"unknown warning field(s): {sorted(map(str, unknown))[:5]}")
        left = body.get("postponements_left")
        if isinstance(left, bool) or not isinstance(left, int) or not 0 <= left <= 1000:
            raise ContractError("field 'postponements_left' must be an integer from 0 to 1000")
        reason = body.get("reason", "")
        if not isinstance(reason, str) or len(reason) > cls.MAX_REASON:
            raise ContractError(f"field 'reason' must be a string of at most {cls.MAX_REASON}")
        issued_at, stop_at = _number(body, "issued_at"), _number(body, "stop_at")
        assert issued_at is not None and stop_at is not None
        if stop_at < issued_at:
            raise ContractError("field 'stop_at' must not be before 'issued_at'")
        postpone_by = _number(body, "postpone_by")
        assert postpone_by is not None
        return cls(
            issued_at=issued_at,
            stop_at=stop_at,
            reason=reason,
            postponements_left=left,
            postpone_by=postpone_by,
            keep_requested_at=_number(body, "keep_requested_at", optional=True),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Activity:
    """A server's answer to GET activity: its GPU sample, presence and keep answer.

    Times are on the server's clock (``now``): the culler turns them into ages, so clock skew
    between nodes does not move presence or keep answers.
    """

    now: float
    gpu: dict[str, Any]
    last_presence: float | None = None
    keep_requested_at: float | None = None
    warning: CullWarning | None = None
    #: whether the answer said anything about a warning (older servers do not)
    has_warning_field: bool = True

    @classmethod
    def parse(cls, body: object) -> Activity:
        """Validate a server's activity answer; raises ContractError naming the bad field."""
        if not isinstance(body, Mapping):
            raise ContractError("the activity answer must be a JSON object")
        gpu = body.get("gpu") or {}
        if not isinstance(gpu, dict):
            raise ContractError("field 'gpu' must be an object")
        now = _number(body, "now")
        assert now is not None
        warning = body.get("warning")
        return cls(
            now=now,
            gpu=gpu,
            last_presence=_number(body, "last_presence", optional=True),
            keep_requested_at=_number(body, "keep_requested_at", optional=True),
            warning=CullWarning.parse(warning) if warning is not None else None,
            has_warning_field="warning" in body,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "gpu": self.gpu,
            "last_presence": self.last_presence,
            "keep_requested_at": self.keep_requested_at,
            "warning": self.warning.to_json() if self.warning else None,
        }
