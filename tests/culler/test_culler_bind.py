"""The culler listens where bind_url says while announcing service_url (Z2JH: the proxy reaches
the hub pod through the hub Service, which the culler cannot bind to)."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from jupyterhub_imagine.culler.app import IdleGPUCuller
from tests.support.net import free_port

ANNOUNCED = "http://hub.invalid:{port}"  # a Service name; resolves nowhere here


def culler(tmp_path: Path, **kw: object) -> IdleGPUCuller:
    return IdleGPUCuller(
        api_url="http://127.0.0.1:9/hub/api",  # never called
        api_token="not-used",
        activity_source="prometheus",
        service_prefix="/services/imagine-culler/",
        metrics_require_auth=False,
        db_url=f"sqlite:///{tmp_path}/c.sqlite",
        **kw,
    )


@pytest.mark.asyncio
async def test_listens_on_bind_url_and_serves_metrics(tmp_path: Path) -> None:
    port = free_port()
    c = culler(
        tmp_path, service_url=ANNOUNCED.format(port=port), bind_url=f"http://127.0.0.1:{port}"
    )
    server = c.start_web()
    try:
        r = await AsyncHTTPClient().fetch(
            f"http://127.0.0.1:{port}/services/imagine-culler/metrics"
        )
        assert b"imagine_culler_" in r.body
        # the hub's Services menu links to the prefix: people land where their warnings are
        for path in ("/services/imagine-culler/", "/services/imagine-culler"):
            index = await AsyncHTTPClient().fetch(
                f"http://127.0.0.1:{port}{path}", follow_redirects=False, raise_error=False
            )
            assert index.code == 302 and index.headers["Location"] == "/hub/home", path
    finally:
        server.stop()


def test_without_bind_url_it_binds_the_announced_host(tmp_path: Path) -> None:
    c = culler(tmp_path, service_url=ANNOUNCED.format(port=free_port()))
    with pytest.raises(socket.gaierror):
        c.start_web()


@pytest.mark.asyncio
async def test_an_address_it_cannot_listen_on_does_not_stop_culling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = culler(tmp_path, service_url=ANNOUNCED.format(port=free_port()), hub_retries=0)
    c.log = logging.getLogger("test-culler")
    cycles = 0

    async def counted() -> object:
        nonlocal cycles
        cycles += 1
        raise asyncio.CancelledError  # one cycle is enough to show the loop runs

    c.cycle = counted  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="test-culler"), pytest.raises(
        asyncio.CancelledError
    ):
        await c.run_forever()
    assert cycles == 1
    assert "Cannot listen on http://hub.invalid" in caplog.text
    assert "IdleGPUCuller.bind_url" in caplog.text
