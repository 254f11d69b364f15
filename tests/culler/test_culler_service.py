"""The culler as a hub service against a real JupyterHub: its /metrics (scripted and scraped by a
real Prometheus), the users' warnings on the hub home page (HTTP client and Chromium), the
Prometheus source inside the real-hub loop, lost warnings re-sent, and hub 5xx during cycles.

Fakes: NVML (the FAKE module of tests/support/fake_nvml.py, a device file per user) and the
DCGM exporter (a loopback text exposition whose values the test sets); everything else is real.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from jupyterhub_imagine.culler.app import IdleGPUCuller
from jupyterhub_imagine.culler.decide import Action
from tests.support.browser import in_browser, screenshot
from tests.support.wait import await_until

from .hub_fixture import ADMIN_TOKEN, CULLER_TOKEN, RealHub, free_port, start_hub, stop_hub
from .test_culler_hub import IDLE, NO_GPU, FakeClock
from .test_prometheus_source import Exporter, exporter, running_prometheus  # noqa: F401

pytestmark = [pytest.mark.timeout(300), pytest.mark.fake]

SERVER_USERS = ["gina", "hank"]  # GPU idle, seen through the servers' own endpoint
PROM_USERS = ["jack", "kate", "liam", "mia", "nina"]  # GPU activity from Prometheus
PREFIX = "/services/imagine-culler/"
UTIL = "DCGM_FI_DEV_GPU_UTIL"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealHub]:
    real = start_hub(tmp_path_factory.mktemp("svc-hub"), SERVER_USERS + PROM_USERS)
    try:
        for user in SERVER_USERS:
            real.set_gpu(user, IDLE)
            real.start_server(user)
        for user in PROM_USERS:
            # the servers' own endpoint says "no GPU": only Prometheus knows about these
            real.set_gpu(user, NO_GPU)
            real.start_server(user, {"profile": "gpu-a100" if user == "nina" else "small"})
        real.wait_ready(SERVER_USERS + PROM_USERS, timeout=150)
        yield real
    finally:
        stop_hub(real)


def culler_for(hub: RealHub, clock: FakeClock, db: Path, **kw: Any) -> IdleGPUCuller:
    settings: dict[str, Any] = {
        "api_url": hub.api_url,
        "api_token": CULLER_TOKEN,
        "servers_url": hub.public_url,
        "activity_source": "server",
        "cull_every": 60,
        "gpu_idle_timeout": 120,
        "warning_lead": 120,
        "max_postponements": 1,
        "presence_timeout": 90,
        "db_url": f"sqlite:///{db}",
        "hub_backoff": 0.01,
        "clock": clock,
        "service_name": "imagine-culler",
        "service_url": f"http://127.0.0.1:{hub.service_port}",
        "service_prefix": PREFIX,
    }
    return IdleGPUCuller(**(settings | kw))


def start_clock(hub: RealHub) -> FakeClock:
    """Far enough ahead that the time since each server's start is an unknown gap (> 3 cycles):
    idle timers start at the first cycle however long the spawns took on a busy machine."""
    return FakeClock(time.time() + 600, hub.gpu_dir / "clock")


async def get(url: str, **kw: Any) -> requests.Response:
    """Blocking HTTP off the event loop: the culler under test serves on this loop."""
    return await asyncio.to_thread(requests.get, url, timeout=30, **kw)


def samples(text: str) -> dict[str, float]:
    """Exposition text to {'name{label=value}': value} (also checks the format parses)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def login(hub: RealHub, user: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{hub.public_url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
    data = {"username": user, "password": "any"} | ({"_xsrf": xsrf.group(1)} if xsrf else {})
    s.post(f"{hub.public_url}/hub/login", data=data, timeout=30).raise_for_status()
    return s


async def test_metrics_and_warnings_on_the_hub_home_page(hub: RealHub, tmp_path: Path) -> None:
    clock = start_clock(hub)
    culler = culler_for(hub, clock, tmp_path / "c.sqlite")
    web = culler.start_web()
    try:
        # the hub adds the route once the service answers (JupyterHub waits for it at start-up)
        await asyncio.to_thread(hub.wait_routed, PREFIX)
        metrics_url = f"{hub.public_url}{PREFIX}metrics"
        assert (await get(metrics_url)).status_code == 403  # no token
        bad = await get(metrics_url, headers={"Authorization": "token nope"})
        assert bad.status_code == 403 and bad.json()["message"]
        for _ in range(3):
            clock.now += 60
            report = await culler.cycle()
            assert report.errors == []
        assert report.actions() == {"gina/": Action.WARN, "hank/": Action.WARN}

        auth = {"Authorization": f"token {ADMIN_TOKEN}"}
        scraped = samples((await get(metrics_url, headers=auth)).text)
        assert scraped["imagine_culler_warnings_total"] == 2
        assert scraped["imagine_culler_warned_servers"] == 2
        assert scraped["imagine_culler_gpu_seconds_total{state=idle}"] >= 2 * 120
        assert scraped["imagine_culler_culls_total{reason=gpu-idle}"] == 0

        # gina's home page: the banner container, then her warning only (HubOAuth, real hub)
        session = await asyncio.to_thread(login, hub, "gina")
        home = await asyncio.to_thread(session.get, f"{hub.public_url}/hub/home", timeout=30)
        assert 'id="imagine-gpu-warnings"' in home.text
        assert f'data-url="{PREFIX}warnings"' in home.text
        mine = (
            await asyncio.to_thread(session.get, f"{hub.public_url}{PREFIX}api/warnings")
        ).json()
        assert [w["server"] for w in mine["warnings"]] == [""]
        assert mine["warnings"][0]["url"] == "/user/gina/"
        assert mine["warnings"][0]["stop_at"] == pytest.approx(clock.now + 120)
        anonymous = await asyncio.to_thread(
            requests.get, f"{hub.public_url}{PREFIX}api/warnings", allow_redirects=False
        )
        assert anonymous.status_code == 302  # to the hub's login, never the data

        def look(page: Any) -> None:
            page.goto(f"{hub.public_url}/hub/login")
            page.fill("#username_input", "hank")
            page.fill("#password_input", "any")
            page.click("#login_submit")
            page.wait_for_load_state()
            page.goto(f"{hub.public_url}/hub/home")
            banner = page.wait_for_selector(".imagine-gpu-warning")
            text = banner.inner_text()
            assert "Idle GPU" in text and "Keep my GPU" in text, text
            assert page.locator(".imagine-gpu-warning").count() == 1
            assert page.get_attribute(".imagine-gpu-warning a", "href") == "/user/hank/"
            screenshot(page, "culler", "home-page-gpu-warning")

        await asyncio.to_thread(in_browser, look)
    finally:
        web.stop()
        await web.close_all_connections()  # the proxy keeps connections alive


async def test_lost_warning_is_sent_again(hub: RealHub, tmp_path: Path) -> None:
    clock = start_clock(hub)
    culler = culler_for(hub, clock, tmp_path / "c.sqlite", service_url="")
    for _ in range(3):
        clock.now += 60
        report = await culler.cycle()
    assert report.actions()["gina/"] == Action.WARN
    # the server forgets it (as after a restart of its extension): the next cycle re-sends it
    token = hub.user_token("gina")
    culler_only = {"Authorization": f"token {CULLER_TOKEN}"}
    url = f"{hub.public_url}/user/gina/jupyterhub-imagine/api/warning"
    assert (await asyncio.to_thread(requests.delete, url, headers=culler_only)).ok
    clock.now += 30
    await culler.cycle()
    warning = hub.server_api("gina", token, "GET", "jupyterhub-imagine/api/warning")["warning"]
    assert warning is not None and warning["stop_at"] == pytest.approx(clock.now - 30 + 120)
    actions = [e["action"] for e in culler.store.events() if e["user"] == "gina"]
    assert actions == ["warn", "resend-warning"]


@pytest.fixture(scope="module")
def prometheus(
    exporter: Exporter,  # noqa: F811 - the fixture imported above
    hub: RealHub,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A real Prometheus scraping the FAKE DCGM exporter and the culler's /metrics (token)."""
    proxy = hub.public_url.removeprefix("http://")
    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: dcgm\n    static_configs:\n      - targets: ['127.0.0.1:{exporter.port}']\n"
        f"  - job_name: culler\n    metrics_path: {PREFIX}metrics\n"
        f"    authorization:\n      credentials: {ADMIN_TOKEN}\n"
        f"    static_configs:\n      - targets: ['{proxy}']\n"
    )
    with running_prometheus(tmp_path_factory.mktemp("svc-prometheus"), config) as url:
        yield url


def series(pod: str, value: float) -> str:
    return f'{UTIL}{{gpu="0",pod="{pod}",namespace="jhub"}} {value}'


async def prom_query(url: str, query: str) -> list[dict[str, Any]]:
    r = await get(f"{url}/api/v1/query", params={"query": query})
    return r.json()["data"]["result"] if r.ok else []  # type: ignore[no-any-return]


async def test_prometheus_source_in_the_real_hub_loop(
    hub: RealHub,
    prometheus: str,
    exporter: Exporter,  # noqa: F811
    tmp_path: Path,
) -> None:
    exporter.lines = [
        series("jupyter-jack", 1),  # idle, nobody there
        series("jupyter-kate", 85),  # a silent training run
        series("jupyter-liam", 0),  # idle, abandoned tab polling
        series("jupyter-mia", 70),  # busy, then its metrics vanish
    ]  # nina: no series at all, so not a GPU server for this culler
    clock = start_clock(hub)
    culler = culler_for(
        hub,
        clock,
        tmp_path / "c.sqlite",
        activity_source="prometheus",
        prometheus_url=prometheus,
        prometheus_metrics=[{"name": UTIL, "full_scale": 100.0}],
        prometheus_window=5,
    )
    web = culler.start_web()
    try:
        await asyncio.to_thread(hub.wait_routed, PREFIX)  # Prometheus scrapes through the proxy
        deadline = time.time() + 30
        while len(await prom_query(prometheus, UTIL)) < 4 and time.time() < deadline:
            await asyncio.sleep(0.5)
        liam_token = hub.user_token("liam")
        seen: list[dict[str, Action]] = []
        for i in range(7):
            if i == 1:
                exporter.lines = exporter.lines[:3]  # mia's series disappear
                # until the culler's query (the maximum over its 5 s window) no longer sees them
                await await_until(
                    lambda: _count(prom_query(prometheus, f"max_over_time({UTIL}[5s])"), 3),
                    30, "mia's series to leave the query window", every=0.5,
                )
            clock.now += 60
            if hub.running("liam"):
                hub.server_api("liam", liam_token, "GET", "api/status")
            report = await culler.cycle()
            assert report.errors == []
            seen.append(report.actions())
        assert {"jack/", "kate/", "liam/", "mia/"} <= set(seen[0])
        assert not hub.running("jack") and not hub.running("liam"), seen
        assert hub.running("kate") and hub.running("mia") and hub.running("nina")
        for name in ("kate/", "mia/"):
            assert all(s.get(name, Action.NONE) == Action.NONE for s in seen), name
        usage = {k.user: v for k, v in culler.store.usage().items()}
        assert usage["mia"][2] > 0  # time with missing metrics is accounted unknown

        # the real Prometheus scraped the culler's own metrics through the proxy, with a token
        deadline = time.time() + 20
        culls: list[dict[str, Any]] = []
        while time.time() < deadline:
            culls = await prom_query(prometheus, 'imagine_culler_culls_total{reason="gpu-idle"}')
            if culls and float(culls[0]["value"][1]) == 2:
                break
            await asyncio.sleep(0.5)
        assert culls and float(culls[0]["value"][1]) == 2, culls
    finally:
        web.stop()
        await web.close_all_connections()


async def _count(results: Any, expected: int) -> bool:
    return len(await results) == expected


class FlakyHub(RequestHandler):
    """Forwards to the hub API, answering 503 per the plan first (a hub restarting)."""

    SUPPORTED_METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")

    async def forward(self) -> None:
        plan: dict[str, Any] = self.settings["plan"]
        key = f"{self.request.method} {self.request.path.rsplit('/', 1)[-1]}"
        plan["seen"].append(key)
        if plan["down"] or plan["fail"].get(key, 0) > 0:
            plan["fail"][key] = plan["fail"].get(key, 0) - 1
            plan["failed"].append(key)
            self.set_status(503)
            self.finish("hub restarting")
            return
        keep = ("Authorization", "Accept", "Content-Type")
        resp = await AsyncHTTPClient().fetch(
            plan["target"] + self.request.uri,
            method=self.request.method,
            headers={k: v for k, v in self.request.headers.items() if k in keep},
            body=self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None,
            allow_nonstandard_methods=True,
            raise_error=False,
        )
        self.set_status(resp.code)
        if "Content-Type" in resp.headers:
            self.set_header("Content-Type", resp.headers["Content-Type"])
        self.finish(resp.body if resp.body and resp.code not in (204, 304) else None)

    get = post = delete = put = patch = forward  # type: ignore[assignment]


async def test_hub_errors_during_full_cycles_are_retried(hub: RealHub, tmp_path: Path) -> None:
    for user in SERVER_USERS:
        if not hub.running(user):
            hub.start_server(user)
    hub.wait_ready(SERVER_USERS)
    origin = hub.api_url.removesuffix("/hub/api")
    plan: dict[str, Any] = {
        "target": origin,
        "down": False,
        "seen": [],
        "failed": [],
        # every listing fails twice, the first stop three times: retried, never fatal
        "fail": {"GET users": 2, "DELETE server": 3},
    }
    port = free_port()
    server = HTTPServer(Application([(r"/.*", FlakyHub)], plan=plan))
    server.listen(port, "127.0.0.1")
    clock = start_clock(hub)
    culler = culler_for(
        hub,
        clock,
        tmp_path / "c.sqlite",
        api_url=f"http://127.0.0.1:{port}/hub/api",
        service_url="",
    )
    try:
        # the hub is down for a whole cycle: logged, reported, no exception, nothing decided
        plan["down"] = True
        clock.now += 60
        report = await culler.cycle()
        assert report.errors and report.decisions == {}
        plan["down"] = False
        stopped: list[str] = []
        for _ in range(6):
            plan["fail"]["GET users"] = 2
            clock.now += 60
            report = await culler.cycle()
            assert report.errors == [], report.errors
            stopped += report.stopped
        assert sorted(stopped) == ["gina/", "hank/"]
        assert not hub.running("gina") and not hub.running("hank")
        assert plan["failed"].count("DELETE server") == 3
        assert plan["failed"].count("GET users") >= 2 * 6
    finally:
        server.stop()
