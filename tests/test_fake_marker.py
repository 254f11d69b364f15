"""The suite refuses to run a test that uses a FAKE without ``@pytest.mark.fake``
(tests/support/fakes.py decides what uses a fake; tests/conftest.py enforces it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests import conftest
from tests.support import fake_nvml, fakes
from tests.support.net import free_port

# The helpers below are what the checks look at: the check counts them (and its own names) as
# uses of a fake, so this module is marked too.
pytestmark = pytest.mark.fake
SERVER_CONFIG = {"nvml_module": "tests.support.fake_nvml"}


def reads_gpus() -> None:
    fake_nvml.nvmlInit()


def calls_a_helper() -> None:
    reads_gpus()


def configures_servers_with_the_fake_by_name() -> dict[str, str]:
    return {"module": "tests.support.fake_nvml"}


def uses_only_real_things() -> int:
    return free_port()


def item(func: Any, fixtures: dict[str, Any] | None = None, marked: bool = False) -> Any:
    """A collected test as far as the check reads it."""
    defs = {name: [SimpleNamespace(func=f)] for name, f in (fixtures or {}).items()}
    return SimpleNamespace(
        nodeid=f"tests/x.py::{func.__name__}",
        function=func,
        cls=None,
        _fixtureinfo=SimpleNamespace(name2fixturedefs=defs),
        get_closest_marker=lambda name: object() if marked and name == "fake" else None,
    )


@pytest.mark.parametrize(
    ("func", "uses"),
    [
        (reads_gpus, "fake_nvml"),
        (calls_a_helper, "reads_gpus"),
        (configures_servers_with_the_fake_by_name, "tests.support.fake_nvml"),
    ],
    ids=["imports-a-fake", "through-a-helper", "names-it-in-a-string"],
)
def test_a_test_using_a_fake_must_be_marked(func: Any, uses: str) -> None:
    assert fakes.unmarked([item(func)]) == [f"tests/x.py::{func.__name__} (uses {uses})"]
    assert fakes.unmarked([item(func, marked=True)]) == []


def test_a_fixture_named_fake_or_using_one_counts() -> None:
    named = item(uses_only_real_things, {"fake_kubeconfig": conftest.fake_kubeconfig})
    assert fakes.unmarked([named]) == [
        "tests/x.py::uses_only_real_things (uses fake_kubeconfig)"
    ]
    through = item(uses_only_real_things, {"servers": calls_a_helper})
    assert fakes.unmarked([through]) == ["tests/x.py::uses_only_real_things (uses reads_gpus)"]


def test_real_components_need_no_marker() -> None:
    assert fakes.unmarked([item(uses_only_real_things)]) == []


def test_the_fakes_are_the_modules_that_say_so() -> None:
    found = fakes.fake_modules()
    assert {"tests.support.fake_nvml", "tests.support.fake_clock", "tests.spawner.fake_kube",
            "tests.cluster.api", "tests.cluster.kubelet", "tests.gpu.faulty_nvml",
            "tests.accounting.fake_energy_nvml", "tests.labextension.identity_double"} <= found
    assert not any(name.rsplit(".", 1)[-1].startswith("test_") for name in found)
    assert "tests.support.oidc" not in found  # the development provider is a real one


def test_collection_stops_with_a_clear_message() -> None:
    with pytest.raises(pytest.UsageError, match=r"not marked @pytest.mark.fake.*\n.*reads_gpus"):
        conftest.pytest_collection_modifyitems(None, [item(reads_gpus)])  # type: ignore[arg-type]
