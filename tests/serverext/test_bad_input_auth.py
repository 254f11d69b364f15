"""Authentication, authorization and XSRF on the mounts and software APIs (real jupyter-server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.serverext import cvmfs_tree
from tests.serverext.activity import last_activity

pytestmark = pytest.mark.fake

P = ("jupyterhub-imagine", "api")
WRITES = [
    ("POST", "mounts", json.dumps({"name": "x", "backend": "webdav"})),
    ("DELETE", "mounts/x", None),
    ("POST", "mounts/x/remount", "{}"),
    ("POST", "software/kernels", json.dumps({"kind": "stack", "id": cvmfs_tree.EESSI_STACK})),
    ("DELETE", "software/kernels/imagine-x", None),
]
READS = [
    "mounts",
    "mounts/x",
    "software",
    "software/stacks",
    "software/browse",
    "software/modules",
    "software/kernels",
]


@pytest.fixture
def jp_server_config(request: Any, tmp_path: Path) -> dict[str, Any]:
    server: dict[str, Any] = {"jpserver_extensions": {"jupyterhub_imagine": True}}
    if "read_only" in request.node.name:
        server["authorizer_class"] = "tests.serverext.readonly_authorizer.ReadOnlyImagineAuthorizer"
    return {
        "ServerApp": server,
        "ImagineServerExtension": {"nvml_module": "tests.support.fake_nvml"},
        "ImagineMountManager": {"root": str(tmp_path / "data")},
        "ImagineSoftwareCatalog": {"root": str(cvmfs_tree.build(tmp_path / "cvmfs"))},
    }


async def _code(jp_fetch: Any, method: str, path: str, body: str | None, **kw: Any) -> int:
    try:
        response = await jp_fetch(
            *P, *path.split("/"), method=method, body=body, allow_nonstandard_methods=True, **kw
        )
    except HTTPClientError as err:
        return err.code
    return response.code


async def test_every_route_needs_a_user(jp_fetch: Any) -> None:
    anonymous = {"Authorization": ""}
    codes = {p: await _code(jp_fetch, "GET", p, None, headers=anonymous) for p in READS}
    codes.update(
        {f"{m} {p}": await _code(jp_fetch, m, p, b, headers=anonymous) for m, p, b in WRITES}
    )
    assert set(codes.values()) == {403}, codes


async def test_read_only_access_can_look_but_not_mount_or_install(jp_fetch: Any) -> None:
    assert await _code(jp_fetch, "GET", "mounts", None) == 200
    assert await _code(jp_fetch, "GET", "software/stacks", None) == 200
    codes = {f"{m} {p}": await _code(jp_fetch, m, p, b) for m, p, b in WRITES}
    assert set(codes.values()) == {403}, codes


async def test_cookie_sessions_need_the_xsrf_token_for_writes(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    # a token request sets the login cookie, as when a browser opens the token URL
    first = await jp_fetch(*P, "status")
    cookies = [c.split(";")[0] for c in first.headers.get_list("Set-Cookie")]
    login = "; ".join(c for c in cookies if not c.startswith("_xsrf="))
    assert login
    body = json.dumps({"kind": "stack", "id": cvmfs_tree.EESSI_STACK})
    no_token = {"Authorization": "", "Cookie": login}

    # reading with the cookie works; writing without the XSRF token is refused
    assert await _code(jp_fetch, "GET", "software/stacks", None, headers=no_token) == 200
    assert await _code(jp_fetch, "POST", "software/kernels", body, headers=no_token) == 403
    assert await _code(jp_fetch, "DELETE", "mounts/x", None, headers=no_token) == 403

    # with the matching XSRF cookie and header, the same write goes through
    xsrf = "0123456789abcdef"
    with_xsrf = {"Authorization": "", "Cookie": f"{login}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    assert await _code(jp_fetch, "POST", "software/kernels", body, headers=with_xsrf) == 201


async def test_reads_are_polls_and_writes_are_activity(jp_fetch: Any) -> None:
    before = await last_activity(jp_fetch)
    for path in READS:
        await _code(jp_fetch, "GET", path, None)
    assert await last_activity(jp_fetch) == before
    body = json.dumps({"kind": "stack", "id": cvmfs_tree.EESSI_STACK})
    assert await _code(jp_fetch, "POST", "software/kernels", body) == 201
    assert await last_activity(jp_fetch) > before
