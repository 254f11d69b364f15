"""The profile model shared by both spawners: pure functions over plain data.

Profiles keep KubeSpawner's ``profile_list`` format (``display_name``, ``slug``, ``default``,
``description``, ``kubespawner_override``, ``profile_options`` with ``choices`` and
``unlisted_choice``) and add:

``gpu``
    ``{"count": 1, "type": "NVIDIA-A100-SXM4-40GB", "mig": "nvidia.com/mig-1g.10gb"}``; all keys
    optional. ``type`` is the node label value (``nvidia.com/gpu.product``) on Kubernetes, the
    NVML device name on a single machine. ``mig`` names a MIG slice resource instead of full GPUs.
``requires``
    capability names (from ``ImagineOAuthenticator.capabilities``) or JupyterHub group names; a
    user may use the profile only when they have every one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .profile_schema import schema_problems, semantic_problems

GPU_RESOURCE = "nvidia.com/gpu"
UNLISTED_SUFFIX = "--unlisted-choice"
# The select value meaning "use the free-text field": ours and KubeSpawner's form.
_UNLISTED_MARKERS = ("unlisted_choice", "unlisted-choice")


class ProfileConfigError(ValueError):
    """The admin's profile list is invalid; the message names the profile and the key."""


class BadSpawnOptions(ValueError):
    """The user's options are invalid; the message says what to choose instead."""


@dataclass(frozen=True)
class GPURequest:
    count: int = 0
    type: str = ""
    mig: str = ""

    @property
    def resource(self) -> str:
        return self.mig or GPU_RESOURCE

    @property
    def is_gpu(self) -> bool:
        return self.count > 0

    def label(self) -> str:
        kind = self.mig.removeprefix("nvidia.com/mig-") + " MIG slice" if self.mig else "GPU"
        kind = f"{self.type} {kind}".strip() if self.type and not self.mig else kind
        return f"{self.count} × {kind}"


@dataclass(frozen=True)
class Profile:
    slug: str
    display_name: str
    description: str = ""
    default: bool = False
    gpu: GPURequest = GPURequest()
    requires: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def options(self) -> Mapping[str, Any]:
        return self.raw.get("profile_options") or {}


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:63].strip("-") or "profile"


def _gpu_from(spec: Mapping[str, Any] | None) -> GPURequest:
    spec = spec or {}
    return GPURequest(
        count=spec.get("count", 1 if spec else 0),
        type=str(spec.get("type") or ""),
        mig=str(spec.get("mig") or ""),
    )


def _profile_from(raw: Mapping[str, Any]) -> Profile:
    """A profile from an item that passed the schema."""
    slug = raw.get("slug") or slugify(raw["display_name"])
    return Profile(
        slug=slug,
        display_name=raw["display_name"],
        description=str(raw.get("description") or ""),
        default=bool(raw.get("default")),
        gpu=_gpu_from(raw.get("gpu")),
        requires=tuple(raw.get("requires") or ()),
        raw=dict(raw, slug=slug),
    )


def _as_list(profile_list: Iterable[Any] | Mapping[str, Any]) -> list[Any]:
    if isinstance(profile_list, Mapping):  # KubeSpawner 7.1's dict form: keys are slugs
        return [
            dict(v, slug=v.get("slug") or k) if isinstance(v, Mapping) else v
            for k, v in profile_list.items()
        ]
    if isinstance(profile_list, str | bytes) or not isinstance(profile_list, Iterable):
        raise ProfileConfigError("profile_list must be a list of profiles (or a dict by slug)")
    return list(profile_list)


def parse_profiles(profile_list: Iterable[Any] | Mapping[str, Any]) -> list[Profile]:
    """Parse a list (or KubeSpawner 7.1 dict keyed by slug) of profiles, checked against
    profile_list.schema.json and for what a schema cannot say; slugs must be unique."""
    items = _as_list(profile_list)
    problems = schema_problems(items)
    if problems:
        raise ProfileConfigError("; ".join(problems))
    profiles = [_profile_from(raw) for raw in items]
    problems = semantic_problems(items, [p.slug for p in profiles])
    if problems:
        raise ProfileConfigError("; ".join(problems))
    return profiles


def missing_requirements(profile: Profile, entitlements: Iterable[str]) -> list[str]:
    """The requirements of ``profile`` the user lacks (capabilities and group names together)."""
    have = set(entitlements)
    return [r for r in profile.requires if r not in have]


def visible_profiles(profiles: Iterable[Profile], entitlements: Iterable[str]) -> list[Profile]:
    have = set(entitlements)
    return [p for p in profiles if not missing_requirements(p, have)]


def default_profile(profiles: list[Profile]) -> Profile | None:
    for p in profiles:
        if p.default:
            return p
    return profiles[0] if profiles else None


def with_default(profiles: list[Profile], slug: str) -> list[Profile]:
    """Make ``slug`` the only default profile; a slug that names no profile is a config error."""
    if not slug:
        return profiles
    if slug not in {p.slug for p in profiles}:
        known = ", ".join(p.slug for p in profiles)
        raise ProfileConfigError(f"default_profile {slug!r} is not a profile (known: {known})")
    return [replace(p, default=p.slug == slug) for p in profiles]


def _first(value: Any) -> Any:
    """Form posts arrive as lists of strings; API and query options may be plain values."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def validate_option(profile: Profile, name: str, value: Any) -> str:
    """Check one profile option value against its choices or unlisted-choice regex."""
    spec = profile.options.get(name)
    if spec is None:
        raise BadSpawnOptions(f"Profile {profile.slug!r} has no option {name!r}")
    if not isinstance(value, str):
        raise BadSpawnOptions(f"Option {name!r} must be a string")
    choices = spec.get("choices") or {}
    if value in choices:
        return value
    unlisted = spec.get("unlisted_choice") or {}
    if unlisted.get("enabled"):
        regex = unlisted.get("validation_regex")
        if regex and not re.fullmatch(regex, value):
            hint = unlisted.get("validation_message") or f"must match {regex}"
            raise BadSpawnOptions(f"Option {name!r}: {value!r} is not allowed ({hint})")
        return value
    raise BadSpawnOptions(
        f"Option {name!r} of profile {profile.slug!r}: choose one of {sorted(choices)}"
    )


@dataclass(frozen=True)
class Selection:
    profile: Profile
    options: dict[str, str]


def select(
    profiles: list[Profile], user_options: Mapping[str, Any], entitlements: Iterable[str]
) -> Selection:
    """Resolve user options to a usable profile, refusing unknown or forbidden choices.

    ``user_options`` are typed, whichever way they came (form, launch link, REST API): a string
    slug and string option values. The form's lists are turned into strings before this, by
    ``options_from_form``; a list here (``{"profile": ["cpu"]}`` through the API) is refused.
    """
    have = set(entitlements)
    if not isinstance(user_options, Mapping):
        raise BadSpawnOptions("Spawn options must be an object of option names to values")
    slug = user_options.get("profile")
    if slug in (None, ""):
        chosen = default_profile(visible_profiles(profiles, have))
        if chosen is None:
            raise BadSpawnOptions("No profile is available to you; ask your platform admins.")
    else:
        if not isinstance(slug, str):
            raise BadSpawnOptions("'profile' must be a profile name")
        chosen = next((p for p in profiles if p.slug == slug), None)
        if chosen is None:
            raise BadSpawnOptions(f"Unknown profile {slug!r}")
    missing = missing_requirements(chosen, have)
    if missing:
        raise BadSpawnOptions(
            f"Profile {chosen.slug!r} needs {', '.join(missing)}, which your account does not have."
        )
    # KubeSpawner's user_options format: {"profile": slug, "<option slug>": value, ...}; its
    # "<option slug>--unlisted-choice" keys (REST clients written for KubeSpawner) mean the same.
    options = {
        _option_name(k): validate_option(chosen, _option_name(k), v)
        for k, v in user_options.items()
        if k != "profile"
    }
    return Selection(chosen, options)


def _option_name(key: object) -> str:
    if not isinstance(key, str):
        raise BadSpawnOptions("Option names must be strings")
    return key.removesuffix(UNLISTED_SUFFIX)


def is_listed_choice(profile: Profile, name: str, value: str) -> bool:
    return value in ((profile.options.get(name) or {}).get("choices") or {})


def options_from_form(formdata: Mapping[str, list[str]]) -> dict[str, Any]:
    """Map KubeSpawner's form field names to user_options."""
    slug = _first(formdata.get("profile")) or ""
    prefix = f"profile-option-{slug}--"
    options = {
        key[len(prefix):]: _first(value)
        for key, value in formdata.items()
        if slug and key.startswith(prefix) and not key.endswith(UNLISTED_SUFFIX)
    }
    for key, value in formdata.items():
        if slug and key.startswith(prefix) and key.endswith(UNLISTED_SUFFIX):
            name = key[len(prefix):-len(UNLISTED_SUFFIX)]
            if options.get(name) in _UNLISTED_MARKERS and _first(value):
                options[name] = _first(value)
    return {"profile": slug, **options}


def options_from_query(query: Mapping[str, list[str]]) -> dict[str, Any]:
    """Launch-link options (``?opt-profile=gpu&opt-image=torch``, prefix already stripped).

    Form field names work too; plain option names are taken as they are (validated later).
    """
    options = options_from_form(query)
    for key, value in query.items():
        if key != "profile" and not key.startswith("profile-option-"):
            options[key] = _first(value)
    return options
