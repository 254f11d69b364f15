"""The accounting admin page as a hub-managed service: charts in Chromium for an admin, 403
for anyone else (even one the hub lets reach the service), Prometheus metrics for admins."""

from __future__ import annotations

import re
import sys
import time

import pytest

from jupyterhub_imagine.accounting import simulate
from jupyterhub_imagine.accounting.store import AccountingStore
from tests.support.browser import in_browser, screenshot
from tests.support.minihub import mini_hub
from tests.support.net import free_port

pytestmark = [pytest.mark.timeout(240), pytest.mark.e2e]

ACCOUNTING = """
c.ImagineAccounting.db_url = {db_url!r}
c.ImagineAccounting.budget_gpu_hours = {budget!r}
c.ImagineAccounting.grid_g_co2_per_kwh = 250
"""

HUB = """
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.admin_users = {{"ada"}}
c.Authenticator.allow_all = True
c.JupyterHub.redirect_to_server = False
c.JupyterHub.services.append({{
    "name": "imagine-accounting",
    "url": "http://127.0.0.1:{port}",
    "command": [{python!r}, "-m", "jupyterhub_imagine.accounting.service",
                "-f", {config!r}, "--cache-seconds", "0", "--weeks", "20"],
    "oauth_no_confirm": True,
}})
# every user may reach the service through the hub: the page itself must refuse non-admins
c.JupyterHub.load_roles.append({{"name": "user",
    "scopes": ["self", "access:services!service=imagine-accounting"]}})
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accthub")
    db_url = f"sqlite:///{tmp}/accounting.sqlite"
    store = AccountingStore(db_url)
    now = time.time()
    for rows in simulate.generate(now - 140 * 86400, now - 3600, 4000, users=200):
        store.insert_many(rows)
    store.close()
    config = tmp / "accounting_config.py"
    config.write_text(ACCOUNTING.format(db_url=db_url, budget=40_000.0))
    hub_config = HUB.format(port=free_port(), python=sys.executable, config=str(config))
    with mini_hub(tmp, hub_config) as h:
        yield h


def _service(hub) -> str:
    return f"{hub.url}/services/imagine-accounting/"


def _wait_service(session, url: str) -> object:
    deadline = time.monotonic() + 60
    while True:
        r = session.get(url, timeout=30)
        if r.status_code not in (502, 503) or time.monotonic() > deadline:
            return r
        time.sleep(0.3)  # the managed service is still starting behind the proxy


def test_non_admin_gets_403_with_a_message(hub):
    bob = hub.login("bob")
    r = _wait_service(bob, _service(hub))
    assert r.status_code == 403, r.text[:300]
    assert r.json()["message"] == "the accounting page is for hub admins"
    r = bob.get(_service(hub) + "metrics", timeout=30)
    assert r.status_code == 403
    assert "imagine_accounting" not in r.text


def test_anonymous_is_sent_to_the_hub_login(hub):
    import requests

    r = requests.get(_service(hub), timeout=30, allow_redirects=False)
    assert r.status_code == 302 and "/hub/api/oauth2/authorize" in r.headers["Location"]


def test_admin_sees_the_charts_and_metrics(hub):
    ada = hub.login("ada")
    r = _wait_service(ada, _service(hub))
    assert r.status_code == 200, r.text[:300]
    assert r.text.count("<svg") == 4
    for caption in ("Cumulative GPU-hours against the budget", "Idle share",
                    "GPU-hours per community", "Users per country"):
        assert caption in r.text
    assert "budget 40,000 GPU-h" in r.text
    assert "cdn" not in r.text.lower() and "<script" not in r.text
    m = ada.get(_service(hub) + "metrics", timeout=30)
    assert m.status_code == 200
    assert 'imagine_accounting_gpu_hours{community="egi:vo.imagine.example"}' in m.text
    assert "imagine_accounting_budget_gpu_hours 40000.0" in m.text
    assert re.search(r'imagine_accounting_users_by_country\{country="DE"\} [1-9]', m.text)


def test_admin_page_in_chromium(hub):
    def steps(page) -> None:
        page.goto(_service(hub))
        page.fill("input[name=username]", "ada")
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_selector("figure svg")
        assert page.locator("figure svg").count() == 4
        assert page.locator("figure").nth(0).locator("polyline").count() >= 1
        assert page.locator("figure").nth(1).locator("rect").count() >= 10
        screenshot(page, "accounting", "admin-page")

    in_browser(steps)
