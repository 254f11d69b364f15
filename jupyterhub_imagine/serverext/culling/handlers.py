"""REST handlers of the idle-GPU culler contract: activity, presence, warning and "keep".

Routes and payloads come from ``jupyterhub_imagine/contract.py``, which the culler imports too.
The culler's own traffic (activity reads, warnings it sets or withdraws) is never activity; a
person's presence report and "keep" answer are.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from jupyter_server.auth.decorator import authorized
from tornado import web

from ...contract import ROUTE_ACTIVITY, ROUTE_KEEP, ROUTE_PRESENCE, ROUTE_WARNING
from ..base import Activity, ImagineAPIHandler
from ..validation import UserError, parse_json_body
from .state import SETTINGS_KEY, CullingError, CullingState

SAMPLER_KEY = "imagine_gpu_sampler"
MAX_CULLING_BODY_BYTES = 4096  # a warning or a presence report is a few hundred bytes


class _CullingHandler(ImagineAPIHandler):
    @property
    def culling(self) -> CullingState:
        state = self.settings.get(SETTINGS_KEY)
        if state is None:
            raise UserError(
                "The culling state is not set up on this server.", "not-set-up", status=503
            )
        return state  # type: ignore[no-any-return]

    def culling_body(self) -> Any:
        """The body as any JSON value (the state checks its shape), its size and nesting
        depth bounded before it is parsed."""
        return parse_json_body(self.request.body, max_bytes=MAX_CULLING_BODY_BYTES)

    def reply(self, model: object) -> None:
        self.finish(json.dumps(model))

    def fail(self, error: CullingError) -> NoReturn:
        raise UserError(error.message, error.reason, status=error.status)


class ActivityHandler(_CullingHandler):
    """GET: GPU sample, last presence and keep answer for the culler service."""

    # the culler polling must not look like user activity
    activity = Activity.NONE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        sampler = self.settings.get(SAMPLER_KEY)
        if sampler is None:
            gpu: dict[str, Any] = {
                "available": False,
                "message": "No GPU sampler is configured on this server.",
                "gpus": [],
            }
        else:
            gpu = await sampler.sample()
            self.culling.start_sampling(sampler)
        self.reply(self.culling.activity_payload(gpu))


class PresenceHandler(_CullingHandler):
    """POST: the labextension reports a real interaction (key, click, focus)."""

    # presence is a real interaction, so it also counts as activity (the proxy counts it anyway)
    activity = Activity.ALL

    @web.authenticated
    @authorized
    def post(self) -> None:
        body = self.culling_body()
        kind = body.get("kind") if isinstance(body, dict) else None
        try:
            when = self.culling.record_presence(kind)  # type: ignore[arg-type]
        except CullingError as e:
            self.fail(e)
        self.reply({"last_presence": when})


class WarningHandler(_CullingHandler):
    """GET the pending warning; PUT/DELETE it (culler service only)."""

    # the labextension polls it, and the culler's writes are not a person's activity
    activity = Activity.NONE

    def _require_culler(self) -> None:
        hub_user = getattr(self.current_user, "hub_user", None)
        if not self.culling.may_set_warning(hub_user):
            raise UserError(
                "Only the idle-GPU culler service may set or withdraw warnings.",
                "not-culler",
                status=403,
            )

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.reply({"warning": self.culling.warning_payload()})

    @web.authenticated
    @authorized
    def put(self) -> None:
        self._require_culler()
        try:
            warning = self.culling.set_warning(self.culling_body())
        except CullingError as e:
            self.fail(e)
        self.reply({"warning": warning})

    @web.authenticated
    @authorized
    def delete(self) -> None:
        self._require_culler()
        self.culling.clear_warning()
        self.set_status(204)
        self.finish()


class KeepHandler(_CullingHandler):
    """POST: the user answers "keep my GPU" to the pending warning."""

    activity = Activity.ALL

    @web.authenticated
    @authorized
    def post(self) -> None:
        try:
            warning = self.culling.request_keep()
        except CullingError as e:
            self.fail(e)
        self.reply({"warning": warning, "keep_requested_at": self.culling.keep_requested_at})


handlers: list[tuple[str, type[ImagineAPIHandler]]] = [
    (ROUTE_ACTIVITY, ActivityHandler),
    (ROUTE_PRESENCE, PresenceHandler),
    (ROUTE_WARNING, WarningHandler),
    (ROUTE_KEEP, KeepHandler),
]
