"""The spawn form in a real JupyterHub, with an admin's template that overrides two blocks.

NVML is the FAKE module (two A100s in a JSON file); the hub and its proxy are real.
"""

from __future__ import annotations

import pytest

from tests.support import fake_nvml
from tests.support.html import Elements
from tests.support.minihub import mini_hub

pytestmark = pytest.mark.fake

ADMIN_FORM = """{% extends "imagine/form.html" %}
{% block legend %}<legend>Pick a machine</legend>{% endblock %}
{% block availability %}{{ super() }}{% if p.profile.gpu.is_gpu %}
<a class="site-gpu-status" href="/status/{{ p.slug }}">GPU status</a>{% endif %}{% endblock %}
"""
PROFILES = [
    {"display_name": "CPU <script>alert('x')</script>", "slug": "cpu", "default": True,
     "description": '"><img src=x onerror=alert(1)>'},
    {"display_name": "One A100", "slug": "a100", "gpu": {"count": 1}, "requires": ["gpu"]},
]
CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.load_groups = {{"gpu": {{"users": ["alice"]}}}}
c.JupyterHub.spawner_class = "imagine-local"
c.ImagineLocalSpawner.nvml_module = "tests.support.fake_nvml"
c.ImagineLocalSpawner.profile_list = {profiles}
c.ImagineLocalSpawner.additional_profile_form_template_paths = ["{templates}"]
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formhub")
    nvml = tmp / "nvml.json"
    fake_nvml.write_state(str(nvml), [fake_nvml.a100(f"GPU-{i}") for i in range(2)])
    templates = tmp / "templates"
    templates.mkdir()
    (templates / "form.html").write_text(ADMIN_FORM)
    config = CONFIG.format(profiles=repr(PROFILES), templates=templates)
    with mini_hub(tmp, config, env={"IMAGINE_FAKE_NVML": str(nvml)}) as h:
        yield h


def test_the_admins_blocks_replace_ours_and_the_rest_stays(hub):
    page = hub.login("alice").get(f"{hub.url}/hub/spawn", timeout=30)
    assert page.status_code == 200
    assert "<legend>Pick a machine</legend>" in page.text and "Choose a profile" not in page.text
    tags = Elements(page.text).tags
    links = [a["href"] for t, a in tags if t == "a" and a.get("class") == "site-gpu-status"]
    assert links == ["/status/a100"]
    assert "2 of 2 GPUs free" in page.text  # the built-in availability, kept by super()
    radios = [a["value"] for t, a in tags if t == "input" and a.get("name") == "profile"]
    assert radios == ["cpu", "a100"]


def test_hostile_profile_text_reaches_the_page_escaped(hub):
    page = hub.login("alice").get(f"{hub.url}/hub/spawn", timeout=30)
    assert "CPU &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    tags = Elements(page.text).tags
    assert not [a for t, a in tags if t == "img" and a.get("onerror")]
    assert "alert('x')</script>" not in page.text


def test_users_without_the_capability_see_only_what_they_may_use(hub):
    page = hub.login("bob").get(f"{hub.url}/hub/spawn", timeout=30)
    radios = [a["value"] for t, a in Elements(page.text).tags
              if t == "input" and a.get("name") == "profile"]
    assert radios == ["cpu"] and "site-gpu-status" not in page.text
