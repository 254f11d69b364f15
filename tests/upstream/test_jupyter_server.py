"""What ``upstream/jupyter_server.py`` relies on in the installed jupyter-server: the public
``APIHandler.update_api_activity()``, called by ``finish()``, is where a request becomes
activity. Run through a real jupyter-server (pytest-jupyter) with handlers of each rule."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from jupyter_server.base.handlers import APIHandler
from tornado import web

from jupyterhub_imagine.upstream.jupyter_server import Activity, ActivityRuleHandler


def test_update_api_activity_is_a_public_method_without_arguments() -> None:
    method = APIHandler.__dict__.get("update_api_activity")
    assert method is not None, "APIHandler.update_api_activity is gone: see docs/upstream.md"
    assert list(inspect.signature(method).parameters) == ["self"]


def test_finish_is_where_activity_is_recorded() -> None:
    # the hook is only meaningful while APIHandler.finish() is what calls it
    assert "self.update_api_activity()" in inspect.getsource(APIHandler.finish)


class _Rule(ActivityRuleHandler):
    @web.authenticated
    def get(self) -> None:
        self.finish("{}")

    @web.authenticated
    def post(self) -> None:
        self.finish("{}")


class AllHandler(_Rule):
    activity = Activity.ALL


class WritesHandler(_Rule):
    activity = Activity.WRITES


class NoneHandler(_Rule):
    activity = Activity.NONE


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {}}}


@pytest.fixture
def routes(jp_serverapp: Any, jp_base_url: str) -> None:
    app = jp_serverapp.web_app
    app.add_handlers(
        ".*$",
        [
            (f"{jp_base_url}rule/all", AllHandler),
            (f"{jp_base_url}rule/writes", WritesHandler),
            (f"{jp_base_url}rule/none", NoneHandler),
        ],
    )


async def _last_activity(jp_fetch: Any) -> str:
    return str(json.loads((await jp_fetch("api", "status")).body)["last_activity"])


@pytest.mark.parametrize(
    ("rule", "method", "counts"),
    [
        ("all", "GET", True),
        ("all", "POST", True),
        ("writes", "GET", False),
        ("writes", "POST", True),
        ("none", "GET", False),
        ("none", "POST", False),
    ],
    ids=lambda v: str(v).lower(),
)
async def test_each_rule_moves_last_activity_or_not(
    jp_fetch: Any, routes: None, rule: str, method: str, counts: bool
) -> None:
    before = await _last_activity(jp_fetch)
    kw = {"body": "{}"} if method == "POST" else {}
    await jp_fetch("rule", rule, method=method, **kw)
    after = await _last_activity(jp_fetch)
    assert (after > before) is counts, (before, after)
