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

GPU_RESOURCE = "nvidia.com/gpu"
_MIG_RE = re.compile(r"^nvidia\.com/mig-\d+g\.\d+gb$")
_SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
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


def _gpu_from(raw: Mapping[str, Any], where: str) -> GPURequest:
    spec = raw.get("gpu") or {}
    if not isinstance(spec, Mapping):
        raise ProfileConfigError(f"{where}: 'gpu' must be a mapping like {{'count': 1}}")
    unknown = set(spec) - {"count", "type", "mig"}
    if unknown:
        raise ProfileConfigError(f"{where}: unknown key(s) in 'gpu': {sorted(unknown)}")
    count = spec.get("count", 1 if spec else 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ProfileConfigError(f"{where}: gpu.count must be a non-negative integer")
    mig = str(spec.get("mig") or "")
    if mig and not _MIG_RE.match(mig):
        raise ProfileConfigError(
            f"{where}: gpu.mig must be a MIG resource like 'nvidia.com/mig-1g.10gb', not {mig!r}. "
            "These exist with the NVIDIA device plugin's 'mixed' MIG strategy; with 'single', "
            "slices are plain nvidia.com/gpu: leave out mig and set gpu.type to the slice's "
            "product label (e.g. NVIDIA-A100-SXM4-40GB-MIG-1g.5gb)"
        )
    return GPURequest(count=count, type=str(spec.get("type") or ""), mig=mig)


def parse_profile(raw: Mapping[str, Any], position: int) -> Profile:
    where = f"profile_list[{position}]"
    if not isinstance(raw, Mapping):
        raise ProfileConfigError(f"{where} must be a mapping")
    name = raw.get("display_name")
    if not name or not isinstance(name, str):
        raise ProfileConfigError(f"{where}: 'display_name' is required")
    slug = raw.get("slug") or slugify(name)
    if not _SLUG_RE.match(slug):
        raise ProfileConfigError(f"{where}: slug {slug!r} must be lower-case letters, digits, -_.")
    requires = raw.get("requires") or ()
    if isinstance(requires, str) or not all(isinstance(r, str) for r in requires):
        raise ProfileConfigError(f"{where} ({slug}): 'requires' must be a list of names")
    return Profile(
        slug=slug,
        display_name=name,
        description=str(raw.get("description") or ""),
        default=bool(raw.get("default")),
        gpu=_gpu_from(raw, f"{where} ({slug})"),
        requires=tuple(requires),
        raw=dict(raw, slug=slug),
    )


def parse_profiles(profile_list: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> list[Profile]:
    """Parse a list (or KubeSpawner 7.1 dict keyed by slug) of profiles; slugs must be unique."""
    items: list[Mapping[str, Any]]
    if isinstance(profile_list, Mapping):
        items = [dict(v, slug=v.get("slug") or k) for k, v in profile_list.items()]
    else:
        items = list(profile_list)
    profiles = [parse_profile(raw, i) for i, raw in enumerate(items)]
    seen: set[str] = set()
    for p in profiles:
        if p.slug in seen:
            raise ProfileConfigError(f"profile_list: slug {p.slug!r} is used twice")
        seen.add(p.slug)
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
