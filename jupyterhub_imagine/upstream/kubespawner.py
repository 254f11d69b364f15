"""KubeSpawner details the bundle relies on without a public hook (KubeSpawner 7.0 and 7.1).

- ``apply_override``: a profile's ``kubespawner_override`` applied with KubeSpawner's own
  ``_apply_overrides``, so that the bundle's profiles (which carry ``gpu`` and ``requires`` and
  go through ``profiles.parse_profiles``) get exactly the semantics KubeSpawner documents for
  ``kubespawner_override``: callables called with the spawner, dicts merged recursively (a
  ``None`` value removes a key), anything else set. KubeSpawner exposes them only through
  ``load_user_options`` on its own ``profile_list``, which cannot hold the bundle's keys.
- ``format_unlisted``: an ``unlisted_choice``'s override with ``{value}`` filled in, as
  KubeSpawner formats it (``kubespawner.utils.recursive_format``, public but undocumented).
- ``stop_all_reflectors``: KubeSpawner's shared pod and event reflectors stopped, for tests
  that start spawners without a hub (``KubeSpawner._stop_all_reflectors``, "used when running
  tests" by KubeSpawner's own suite).
- ``offline``: a KubeSpawner (or subclass) built with KubeSpawner's private ``_mock`` switch,
  which its own suite uses to build spawners without a hub; for tests and benches that render
  forms and manifests with no Kubernetes API server.

``tests/upstream/test_kubespawner.py`` fails when any of these changes shape or behaviour;
``docs/upstream.md`` drafts the upstream change that would let the bundle drop them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar

from kubespawner import KubeSpawner
from kubespawner.utils import recursive_format

KubeSpawnerT = TypeVar("KubeSpawnerT", bound=KubeSpawner)


def apply_override(spawner: KubeSpawner, override: Mapping[str, Any]) -> None:
    """Apply one ``kubespawner_override`` mapping to ``spawner`` as KubeSpawner does.

    The mapping is deep-copied first: KubeSpawner merges dict values into the spawner's own
    dicts, and a profile's configuration must never be changed by a spawn.
    """
    spawner._apply_overrides(copy.deepcopy(dict(override)))


def format_unlisted(override: Mapping[str, Any], value: str) -> dict[str, Any]:
    """An ``unlisted_choice.kubespawner_override`` with ``{value}`` replaced by ``value``."""
    return {k: recursive_format(v, value=value) for k, v in override.items()}


def offline(cls: type[KubeSpawnerT], **kwargs: Any) -> KubeSpawnerT:
    """A spawner of ``cls`` built without a hub or API server (tests and benches)."""
    return cls(_mock=True, **kwargs)


async def stop_all_reflectors() -> None:
    """Stop the pod and event reflectors every KubeSpawner of this process shares (tests)."""
    await KubeSpawner._stop_all_reflectors()
