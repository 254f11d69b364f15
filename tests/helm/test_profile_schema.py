"""One profile_list schema: the package validates with it, the chart carries the same copy."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from jupyterhub_imagine.spawner import profile_schema
from jupyterhub_imagine.spawner.profiles import ProfileConfigError, parse_profiles
from tests.helm.chart import CHART, EXAMPLES, ROOT

VALUES_SCHEMA = CHART / "values.schema.json"


def chart_copy_of_the_schema() -> Any:
    node = json.loads(VALUES_SCHEMA.read_text())
    for key in profile_schema.CHART_PATH:
        node = node["properties"][key]
    return node


def test_the_chart_carries_the_packages_schema():
    """Fails when either side changes alone: run `make chart-schema` after editing the schema."""
    Draft7Validator.check_schema(profile_schema.schema())
    assert chart_copy_of_the_schema() == profile_schema.chart_fragment()


def test_the_sync_script_finds_nothing_to_do():
    script = ROOT / "helm" / "sync-profile-schema.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def shipped_profile_lists() -> dict[str, list[dict[str, Any]]]:
    files = [CHART / "values.yaml", *sorted(EXAMPLES.glob("*.yaml"))]
    lists = {}
    for path in files:
        values = yaml.safe_load(path.read_text())
        profiles = ((values.get("jupyterhub") or {}).get("singleuser") or {}).get("profileList")
        if profiles:
            lists[path.name] = profiles
    return lists


@pytest.mark.parametrize("name", sorted(shipped_profile_lists()))
def test_shipped_profile_lists_pass_both_sides(name: str):
    profiles = shipped_profile_lists()[name]
    assert not list(Draft7Validator(chart_copy_of_the_schema()).iter_errors(profiles))
    assert parse_profiles(profiles)


BAD = {
    "count as text": ([{"display_name": "A", "gpu": {"count": "2"}}], ["0", "gpu", "count"],
                      "profile_list[0] (a): gpu.count must be a non-negative integer"),
    "typo in a key": ([{"display_name": "A", "kubespawner_overide": {}}], ["0"],
                      "profile_list[0] (a): unknown key(s): ['kubespawner_overide']"),
    "choice default as text": (
        [{"display_name": "A", "profile_options": {"i": {"choices": {"x": {"default": "y"}}}}}],
        ["0", "profile_options", "i", "choices", "x", "default"],
        "profile_list[0] (a): profile_options.i.choices.x.default must be true or false",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_profiles_fail_on_both_sides_at_the_same_key(case: str):
    profiles, path, message = BAD[case]
    errors = list(Draft7Validator(chart_copy_of_the_schema()).iter_errors(profiles))
    assert [[str(p) for p in e.absolute_path] for e in errors] == [path]
    with pytest.raises(ProfileConfigError) as info:
        parse_profiles(profiles)
    assert str(info.value).startswith(message)
