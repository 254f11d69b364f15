"""The pure profile model."""

from __future__ import annotations

import pytest

from jupyterhub_imagine.gpu.nvml import GPUDevice, MigInstance
from jupyterhub_imagine.spawner import profiles as pm
from jupyterhub_imagine.spawner.local_profiles import candidates_for, derive_profiles
from jupyterhub_imagine.spawner.quota import check_quota

PROFILES = [
    {"display_name": "CPU", "slug": "cpu", "default": True},
    {
        "display_name": "1 A100",
        "slug": "gpu-a100",
        "gpu": {"count": 1, "type": "A100"},
        "requires": ["gpu"],
        "profile_options": {
            "image": {
                "display_name": "Image",
                "choices": {"torch": {"display_name": "PyTorch"}},
                "unlisted_choice": {"enabled": True, "validation_regex": r"^[a-z0-9./:-]+$"},
            }
        },
    },
    {"display_name": "MIG", "gpu": {"mig": "nvidia.com/mig-1g.10gb"}, "requires": ["gpu"]},
]


def test_parse_generates_slugs_and_gpu_requests():
    profiles = pm.parse_profiles(PROFILES)
    assert [p.slug for p in profiles] == ["cpu", "gpu-a100", "mig"]
    assert profiles[0].gpu.is_gpu is False
    assert profiles[2].gpu == pm.GPURequest(count=1, mig="nvidia.com/mig-1g.10gb")
    assert profiles[2].gpu.resource == "nvidia.com/mig-1g.10gb"


def test_dict_form_uses_keys_as_slugs():
    profiles = pm.parse_profiles({"small": {"display_name": "Small"}})
    assert profiles[0].slug == "small"


CONFIG_ERRORS = {
    "no display_name": ([{"slug": "x"}], "profile_list[0] (x): 'display_name' is required"),
    "negative count": ([{"display_name": "A", "gpu": {"count": -1}}],
                       "profile_list[0] (a): gpu.count must be a non-negative integer"),
    "count as text": ([{"display_name": "A", "gpu": {"count": "2"}}],
                      "profile_list[0] (a): gpu.count must be a non-negative integer"),
    "count as boolean": ([{"display_name": "A", "gpu": {"count": True}}],
                         "profile_list[0] (a): gpu.count must be a non-negative integer"),
    "MIG without its resource prefix": ([{"display_name": "A", "gpu": {"mig": "1g"}}],
                                        "profile_list[0] (a): gpu.mig must be a MIG resource"),
    "typo in gpu": ([{"display_name": "A", "gpu": {"cout": 1}}],
                    "profile_list[0] (a): unknown key(s) in 'gpu': ['cout']"),
    "typo in a profile key": ([{"display_name": "A", "kubespawner_overide": {}}],
                              "profile_list[0] (a): unknown key(s): ['kubespawner_overide']"),
    "slug used twice": ([{"display_name": "A"}, {"display_name": "A"}],
                        "profile_list: slug 'a' is used twice"),
    "slug with a space": ([{"display_name": "A", "slug": "Bad Slug"}],
                          "profile_list[0] (Bad Slug): slug must be lower-case letters"),
    "requires as a string": ([{"display_name": "A", "requires": "gpu"}],
                             "profile_list[0] (a): requires must be a list of names"),
    "requires with a number": ([{"display_name": "A", "requires": ["gpu", 3]}],
                               "profile_list[0] (a): requires[1] must be a string"),
    "option without choices": (
        [{"display_name": "A", "profile_options": {"img": {"display_name": "I"}}}],
        "profile_list[0] (a): profile_options.img offers nothing to choose",
    ),
    "regex Python cannot compile": (
        [{"display_name": "A", "profile_options": {"img": {"unlisted_choice": {
            "enabled": True, "validation_regex": "(?P<"}}}}],
        "profile_list[0] (a): profile_options.img.unlisted_choice.validation_regex is not a",
    ),
    "a profile that is not a mapping": ([{"display_name": "A"}, "gpu"],
                                        "profile_list[1]: must be a mapping"),
    "dict form with a bad value": ({"a": "x"}, "profile_list[0]: must be a mapping"),
    "not a list": ("cpu", "profile_list must be a list of profiles"),
    "keys that are not text": ([{"display_name": "A", "kubespawner_override": {(1, 2): 3}}],
                               "profile_list must be plain data"),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS)
def test_config_errors_name_the_problem(case):
    bad, message = CONFIG_ERRORS[case]
    with pytest.raises(pm.ProfileConfigError) as info:
        pm.parse_profiles(bad)
    assert str(info.value).startswith(message), str(info.value)


def test_every_problem_is_reported_at_once():
    bad = [{"display_name": "A", "gpu": {"count": -1}}, {"display_name": "B", "requires": "x"}]
    with pytest.raises(pm.ProfileConfigError) as info:
        pm.parse_profiles(bad)
    assert str(info.value) == (
        "profile_list[0] (a): gpu.count must be a non-negative integer; "
        "profile_list[1] (b): requires must be a list of names"
    )


def test_callables_in_overrides_and_yaml_nulls_are_accepted():
    def image(spawner):
        return "x"

    profiles = pm.parse_profiles([{"display_name": "A", "description": None, "gpu": None,
                                   "kubespawner_override": {"image": image}}])
    assert profiles[0].raw["kubespawner_override"]["image"] is image
    assert profiles[0].gpu.is_gpu is False and profiles[0].description == ""


def test_gating_hides_and_refuses():
    profiles = pm.parse_profiles(PROFILES)
    assert [p.slug for p in pm.visible_profiles(profiles, set())] == ["cpu"]
    with pytest.raises(pm.BadSpawnOptions, match="needs gpu"):
        pm.select(profiles, {"profile": "gpu-a100"}, set())
    assert pm.select(profiles, {"profile": "gpu-a100"}, {"gpu"}).profile.slug == "gpu-a100"


@pytest.mark.parametrize(
    "options,needle",
    [
        ({"profile": "nope"}, "Unknown profile"),
        ({"profile": "cpu", "junk": "1"}, "no option"),
        # the form's list convention has no place in typed options (REST API, links)
        ({"profile": ["cpu"]}, "profile name"),
        ({"profile": ["cpu", "gpu-a100"]}, "profile name"),
        ({"profile": "gpu-a100", "image": ["torch"]}, "must be a string"),
        ({"profile": "cpu", 5: "x"}, "must be strings"),
        ({"profile": "gpu-a100", "image": "bad image!"}, "not allowed"),
        ({"profile": 5}, "profile name"),
    ],
)
def test_bad_options(options, needle):
    with pytest.raises(pm.BadSpawnOptions, match=needle):
        pm.select(pm.parse_profiles(PROFILES), options, {"gpu"})


def test_default_profile_and_valid_options():
    profiles = pm.parse_profiles(PROFILES)
    assert pm.select(profiles, {}, set()).profile.slug == "cpu"
    sel = pm.select(profiles, {"profile": "gpu-a100", "image": "torch"}, {"gpu"})
    assert sel.options == {"image": "torch"}
    sel = pm.select(profiles, {"profile": "gpu-a100", "image": "quay.io/x:1"}, {"gpu"})
    assert sel.options == {"image": "quay.io/x:1"}


def test_options_from_form_uses_kubespawner_field_names():
    form = {
        "profile": ["gpu-a100"],
        "profile-option-gpu-a100--image": ["unlisted_choice"],
        "profile-option-gpu-a100--image--unlisted-choice": ["my/image:2"],
        "profile-option-cpu--image": ["ignored"],
    }
    assert pm.options_from_form(form) == {"profile": "gpu-a100", "image": "my/image:2"}


def test_quota():
    assert check_quota(1, 1, 2, "alice") is None
    assert "at most 2" in check_quota(2, 1, 2, "alice")
    assert check_quota(10, 10, 0, "alice") is None


def _devices():
    mig = GPUDevice(2, "GPU-2", "A100", 40, mig=[MigInstance("MIG-a", "A100 MIG 1g.10gb", 10),
                                                MigInstance("MIG-b", "A100 MIG 1g.10gb", 10)])
    return [GPUDevice(0, "GPU-0", "A100", 40), GPUDevice(1, "GPU-1", "A100", 40), mig]


def test_derived_profiles_follow_the_machine():
    slugs = [p.slug for p in derive_profiles(_devices(), ["gpu"])]
    assert slugs == ["cpu", "gpu-a100", "gpu2-a100", "mig-1g-10gb"]
    assert [p.slug for p in derive_profiles([], ["gpu"])] == ["cpu"]
    profiles = derive_profiles(_devices(), ["gpu"])
    assert candidates_for(profiles[1].gpu, _devices()) == ["GPU-0", "GPU-1"]
    assert candidates_for(profiles[3].gpu, _devices()) == ["MIG-a", "MIG-b"]


def test_with_default_marks_one_profile_and_rejects_unknown_slugs():
    profiles = pm.with_default(pm.parse_profiles(PROFILES), "gpu-a100")
    assert [p.slug for p in profiles if p.default] == ["gpu-a100"]
    with pytest.raises(pm.ProfileConfigError, match="default_profile 'nope' is not a profile"):
        pm.with_default(profiles, "nope")


def test_startup_names_bad_limits_and_profiles():
    from traitlets.config import Config

    from jupyterhub_imagine.spawner.kube import ImagineKubeSpawner
    from jupyterhub_imagine.startup import spawner_config_problems

    c = Config()
    c.ImagineKubeSpawner.gpu_quota_per_user = -1
    c.ImagineKubeSpawner.gpu_quota_per_group_total = {"vo": -2}
    c.ImagineKubeSpawner.profile_list = [{"display_name": "A", "gpu": {"cout": 1}}]
    problems = spawner_config_problems(c, ImagineKubeSpawner)
    assert problems == [
        "ImagineKubeSpawner.gpu_quota_per_user must be 0 (no limit) or more, not -1",
        "ImagineKubeSpawner.gpu_quota_per_group_total['vo'] must be 0 or more, not -2",
        "ImagineKubeSpawner.profile_list[0] (a): unknown key(s) in 'gpu': ['cout'] "
        "(known: count, mig, type)",
    ]
    assert spawner_config_problems(Config(), ImagineKubeSpawner) == []


def test_kubespawner_style_unlisted_choice_keys_are_accepted():
    profiles = pm.parse_profiles(PROFILES)
    sel = pm.select(profiles, {"profile": "gpu-a100", "image--unlisted-choice": "q/x:1"}, {"gpu"})
    assert sel.options == {"image": "q/x:1"}
    form = {"profile": ["gpu-a100"], "profile-option-gpu-a100--image": ["unlisted-choice"],
            "profile-option-gpu-a100--image--unlisted-choice": ["q/y:2"]}
    assert pm.options_from_form(form) == {"profile": "gpu-a100", "image": "q/y:2"}


def test_form_renders_profile_options_with_kubespawner_field_names():
    from jupyterhub_imagine.spawner.form import Availability, render_form

    profiles = pm.parse_profiles(PROFILES)
    html = render_form(profiles, {"gpu-a100": Availability(0, 4, "A100 GPUs")},
                       {"gpu-a100": "All A100 GPUs are in use"}, preselect="mig")
    assert '<select name="profile-option-gpu-a100--image">' in html
    assert 'name="profile-option-gpu-a100--image--unlisted-choice"' in html
    assert 'value="gpu-a100" disabled' in html and "0 of 4 A100 GPUs free" in html
    assert 'value="mig" checked' in html and 'value="cpu">' in html


def test_launch_link_options_take_plain_option_names():
    query = {"profile": ["gpu-a100"], "image": ["torch"]}
    assert pm.options_from_query(query) == {"profile": "gpu-a100", "image": "torch"}
    sel = pm.select(pm.parse_profiles(PROFILES), pm.options_from_query(query), {"gpu"})
    assert sel.options == {"image": "torch"}
    with pytest.raises(pm.BadSpawnOptions, match="no option"):
        pm.select(pm.parse_profiles(PROFILES), pm.options_from_query({"profile": ["cpu"],
                                                                      "image": ["x"]}), set())


@pytest.mark.parametrize("spawner", ["kube", "local"])
def test_startup_refuses_retired_kc_role_groups(spawner):
    """Profiles and group quotas naming a ``kc-role:`` group (nobody has one since realm and
    client roles got their own namespaces) stop the hub instead of failing closed silently."""
    from traitlets.config import Config

    from jupyterhub_imagine.spawner.kube import ImagineKubeSpawner
    from jupyterhub_imagine.spawner.local import ImagineLocalSpawner
    from jupyterhub_imagine.startup import spawner_config_problems

    cls = ImagineKubeSpawner if spawner == "kube" else ImagineLocalSpawner
    c = Config()
    section = c[cls.__name__]
    section.gpu_quota_per_group_total = {"kc-role:gpu-user": 2, "kc-realm:gpu-user": 2}
    section.profile_list = [
        {"display_name": "CPU", "slug": "cpu"},
        {"display_name": "GPU", "slug": "gpu", "requires": ["kc-role:jupyterhub:gpu"]},
    ]
    problems = spawner_config_problems(c, cls)
    assert len(problems) == 2, problems
    assert "gpu_quota_per_group_total" in problems[0]
    assert "'kc-realm:gpu-user'" in problems[0] and "migration" in problems[0]
    assert "profile_list (gpu)" in problems[1]
    assert "'kc-client:jupyterhub:gpu'" in problems[1]
    section.gpu_quota_per_group_total = {"kc-realm:gpu-user": 2}
    section.profile_list = [{"display_name": "GPU", "slug": "gpu", "requires": ["kc-realm:x"]}]
    assert spawner_config_problems(c, cls) == []
