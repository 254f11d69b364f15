"""The spawn form: our Jinja2 template, admins' templates and block overrides, escaping."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import kubespawner
import pytest
from traitlets.config import Config

from jupyterhub_imagine.spawner import profiles as pm
from jupyterhub_imagine.spawner.form import Availability, SpawnFormMixin, render_form
from jupyterhub_imagine.spawner.local import ImagineLocalSpawner
from tests.support.html import Elements

PROFILES = [
    {"display_name": "CPU", "slug": "cpu", "default": True, "description": "No GPU."},
    {
        "display_name": "1 A100",
        "slug": "gpu-a100",
        "gpu": {"count": 1, "type": "A100"},
        "profile_options": {
            "image": {
                "display_name": "Image",
                "choices": {
                    "torch": {"display_name": "PyTorch"},
                    "tf": {"display_name": "TensorFlow", "default": True},
                },
                "unlisted_choice": {
                    "enabled": True,
                    "display_name": "Image name",
                    "validation_regex": "^[a-z0-9./:-]+$",
                    "validation_message": "lower-case image name",
                },
            }
        },
    },
    {"display_name": "MIG", "slug": "mig", "gpu": {"mig": "nvidia.com/mig-1g.10gb"}},
]
AVAILABILITY = {"gpu-a100": Availability(0, 4, "A100 GPUs"), "mig": Availability(3, 7, "slices")}
FULL = {"gpu-a100": "All A100 GPUs are in use"}


def render(profiles=PROFILES, **kwargs) -> str:
    return render_form(pm.parse_profiles(profiles), AVAILABILITY, FULL, **kwargs)


def test_default_form_keeps_fields_states_and_availability():
    html = render(preselect="mig")
    doc = Elements(html)
    radios = doc.find("input", type="radio", name="profile")
    assert [r["value"] for r in radios] == ["cpu", "gpu-a100", "mig"]
    by_slug = {r["value"]: r for r in radios}
    assert "disabled" in by_slug["gpu-a100"] and "checked" not in by_slug["gpu-a100"]
    assert "checked" in by_slug["mig"] and "checked" not in by_slug["cpu"]
    assert "0 of 4 A100 GPUs free" in html and "All A100 GPUs are in use" in html
    assert "3 of 7 slices free" in html
    # KubeSpawner's field names, the option's default choice, the free-text field
    assert doc.find("select", name="profile-option-gpu-a100--image")
    assert doc.find("option", value="tf")[0].keys() >= {"selected"}
    other = doc.find("input", name="profile-option-gpu-a100--image--unlisted-choice")[0]
    assert other["pattern"] == "^[a-z0-9./:-]+$" and other["title"] == "lower-case image name"


def test_default_profile_is_checked_without_a_preselection():
    doc = Elements(render(preselect="no-such-profile"))
    assert "checked" in doc.find("input", value="cpu")[0]


def test_form_is_labelled_for_assistive_technology():
    doc = Elements(render())
    ids = {a["id"] for _, a in doc.tags if a.get("id")}
    for radio in doc.find("input", type="radio"):
        assert doc.find("label", **{"for": radio["id"]}), radio
        for ref in (radio.get("aria-describedby") or "").split():
            assert ref in ids, ref
    cpu = doc.find("input", value="cpu")[0]
    assert cpu["aria-describedby"] == "profile-description-cpu"
    assert doc.find("input", value="gpu-a100")[0]["aria-describedby"] == "profile-status-gpu-a100"
    assert doc.find("input", type="text")[0]["aria-label"] == "Image: Image name"
    assert doc.find("fieldset", **{"class": "imagine-profiles"}) and "<legend>" in render()


HOSTILE = [
    {
        "display_name": "<script>alert('name')</script>{{ 7 * 7 }}",
        "slug": "evil",
        "description": '"><img src=x onerror=alert(1)>',
        "profile_options": {
            "img": {
                "display_name": "<b onmouseover=alert(2)>Image</b>",
                "choices": {
                    'a"><script>alert(3)</script>': {"display_name": "</select><svg onload=x>"}
                },
                "unlisted_choice": {
                    "enabled": True,
                    "display_name": '" autofocus onfocus="alert(4)',
                    "validation_regex": '"onfocus="alert(5)',
                },
            }
        },
    }
]


def test_hostile_profile_text_is_escaped_everywhere():
    html = render_form(pm.parse_profiles(HOSTILE), {}, {"evil": "<i>full</i>"})
    doc = Elements(html)
    assert [t for t, _ in doc.tags if t in ("script", "img", "svg", "b", "i")] == []
    assert all("onerror" not in a and "onfocus" not in a and "onload" not in a
               for _, a in doc.tags)
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;{{ 7 * 7 }}" in html  # data, not code
    assert doc.find("option", value='a"><script>alert(3)</script>')
    assert doc.find("input", type="text")[0]["pattern"] == '"onfocus="alert(5)'
    assert "&lt;i&gt;full&lt;/i&gt;" in html


def admin_config(**traits) -> SpawnFormMixin:
    c = Config()
    for name, value in traits.items():
        c.SpawnFormMixin[name] = value
    return SpawnFormMixin(config=c)


def test_admin_form_overrides_blocks_and_keeps_the_rest(tmp_path: Path):
    (tmp_path / "form.html").write_text(
        '{% extends "imagine/form.html" %}'
        "{% block legend %}<legend>Pick a machine</legend>{% endblock %}"
        "{% block availability %}{{ super() }}"
        '{% if p.profile.gpu.is_gpu %} <a class="site-status" href="/status/{{ p.slug }}">'
        "status</a>{% endif %}{% endblock %}"
    )
    spawner = admin_config(additional_profile_form_template_paths=[str(tmp_path)])
    html = spawner.render_form(pm.parse_profiles(PROFILES), AVAILABILITY, FULL)
    doc = Elements(html)
    assert "<legend>Pick a machine</legend>" in html and "Choose a profile" not in html
    assert [a["href"] for a in doc.find("a", **{"class": "site-status"})] == [
        "/status/gpu-a100", "/status/mig"
    ]
    assert "0 of 4 A100 GPUs free" in html  # super() kept the built-in text
    assert doc.find("select", name="profile-option-gpu-a100--image")


def test_literal_template_wins_and_is_autoescaped(tmp_path: Path):
    (tmp_path / "form.html").write_text("from the folder")
    spawner = admin_config(
        additional_profile_form_template_paths=[str(tmp_path)],
        profile_form_template="{% for p in profiles %}[{{ p.display_name }}]{% endfor %}",
    )
    html = spawner.render_form(pm.parse_profiles(HOSTILE + PROFILES[:1]), {}, {})
    assert html == "[&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;{{ 7 * 7 }}][CPU]"


def test_kubespawners_own_template_works_as_an_admin_template(tmp_path: Path):
    """An admin's form.html written for KubeSpawner (profile_list, user_options) still renders."""
    source = Path(kubespawner.__file__).parent / "templates"
    for name in ("form.html", "style.css"):
        shutil.copy(source / name, tmp_path / name)
    spawner = admin_config(additional_profile_form_template_paths=[str(tmp_path)])
    html = spawner.render_form(pm.parse_profiles(PROFILES), AVAILABILITY, {}, preselect="mig")
    doc = Elements(html)
    assert [r["value"] for r in doc.find("input", type="radio")] == ["cpu", "gpu-a100", "mig"]
    assert doc.find("select", name="profile-option-gpu-a100--image")
    if "user_options" in (tmp_path / "form.html").read_text():  # KubeSpawner 7.1; 7.0 has none
        assert 'const userOptions = {"profile": "mig"}' in html


def test_a_broken_admin_template_falls_back_to_ours_and_says_why(tmp_path, caplog):
    (tmp_path / "form.html").write_text("{% for p in profiles %}{{ p.display_name }")
    spawner = admin_config(additional_profile_form_template_paths=[str(tmp_path)])
    with caplog.at_level(logging.ERROR):
        html = spawner.render_form(pm.parse_profiles(PROFILES), AVAILABILITY, FULL)
    assert 'name="profile"' in html and "Choose a profile" in html
    assert "additional_profile_form_template_paths" in caplog.text
    assert "TemplateSyntaxError" in caplog.text


def test_spawners_take_kubespawners_trait_names(tmp_path: Path):
    from jupyterhub_imagine.spawner.kube import ImagineKubeSpawner

    c = Config()
    c.ImagineLocalSpawner.additional_profile_form_template_paths = [str(tmp_path)]
    c.ImagineLocalSpawner.profile_form_template = "x"
    spawner = ImagineLocalSpawner(config=c)
    assert spawner.form_templates().paths == (str(tmp_path),)
    assert spawner.form_templates().literal == "x"
    # the Kubernetes spawner's traits are ours (same names, our template's variables)
    traits = ImagineKubeSpawner.class_traits()
    for name in ("additional_profile_form_template_paths", "profile_form_template"):
        assert traits[name] is SpawnFormMixin.class_traits()[name]


@pytest.mark.parametrize("bad", [{"display_name": 5}, "not a mapping"])
def test_form_views_come_from_validated_profiles_only(bad):
    with pytest.raises(pm.ProfileConfigError):
        pm.parse_profiles([bad])
