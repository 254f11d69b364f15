"""The spawn form: a Jinja2 template (autoescaped) over plain views of the profiles.

``form_context`` (pure) turns profiles, their availability and refusals into the template's
context; ``FormTemplates`` finds and renders the template; ``SpawnFormMixin`` holds the admin's
settings (KubeSpawner's trait names and lookup rules) and gives both spawners ``render_form``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    Template,
    TemplateError,
)
from traitlets import List, Unicode
from traitlets.config import LoggingConfigurable

from .profiles import Profile

#: Our templates; ``imagine/form.html`` always names the built-in form, for admins to extend.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "spawn-form"
FORM_TEMPLATE = "form.html"
BUILTIN_PREFIX = "imagine"


@dataclass(frozen=True)
class Availability:
    free: int
    total: int
    unit: str  # "A100 GPUs", "1g.10gb MIG slices"

    def text(self) -> str:
        return f"{self.free} of {self.total} {self.unit} free"


@dataclass(frozen=True)
class ChoiceView:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class UnlistedView:
    """KubeSpawner's ``unlisted_choice``: an "Other..." entry and a free-text field."""

    field: str
    label_in_choices: str
    placeholder: str
    pattern: str
    message: str


@dataclass(frozen=True)
class OptionView:
    name: str
    field: str  # KubeSpawner's field name: profile-option-<slug>--<option>
    label: str
    choices: tuple[ChoiceView, ...]
    unlisted: UnlistedView | None


@dataclass(frozen=True)
class ProfileView:
    """One profile as the form shows it; ``profile`` is the parsed profile (``.raw``: as set)."""

    profile: Profile
    slug: str
    display_name: str
    description: str
    checked: bool
    reason: str  # why it cannot be chosen now (full, no node fits); empty: it can
    availability: str  # "2 of 8 A100 GPUs free"; empty: not a GPU profile, or unknown
    options: tuple[OptionView, ...]


def _option_view(profile: Profile, name: str, spec: Mapping[str, Any]) -> OptionView:
    field = f"profile-option-{profile.slug}--{name}"
    choices = spec.get("choices") or {}
    default = next((k for k, c in choices.items() if (c or {}).get("default")), "")
    default = default or next(iter(choices), "")
    views = tuple(
        ChoiceView(str(k), str((c or {}).get("display_name") or k), k == default)
        for k, c in choices.items()
    )
    raw = spec.get("unlisted_choice") or {}
    unlisted = None
    if raw.get("enabled"):
        unlisted = UnlistedView(
            field=f"{field}--unlisted-choice",
            label_in_choices=str(raw.get("display_name_in_choices") or "Other..."),
            placeholder=str(raw.get("display_name") or "Other"),
            pattern=str(raw.get("validation_regex") or ""),
            message=str(raw.get("validation_message") or ""),
        )
    label = str(spec.get("display_name") or name)
    return OptionView(str(name), field, label, views, unlisted)


def _profile_view(
    profile: Profile, availability: Availability | None, reason: str, checked: bool
) -> ProfileView:
    return ProfileView(
        profile=profile,
        slug=profile.slug,
        display_name=profile.display_name,
        description=profile.description,
        checked=checked and not reason,
        reason=reason,
        availability=availability.text() if availability else "",
        options=tuple(_option_view(profile, n, s or {}) for n, s in profile.options.items()),
    )


def form_context(
    profiles: Sequence[Profile],
    availability: Mapping[str, Availability],
    unavailable: Mapping[str, str],
    preselect: str = "",
) -> dict[str, Any]:
    """The template's variables: ``profiles`` (views, in order), ``checked`` (the slug checked),
    ``user_options`` (``{"profile": preselect}``, as KubeSpawner's template has it)."""
    usable = [p for p in profiles if p.slug not in unavailable]
    first = preselect if preselect in {p.slug for p in usable} else ""
    first = first or next((p.slug for p in usable if p.default), "")
    first = first or (usable[0].slug if usable else "")
    views = [
        _profile_view(p, availability.get(p.slug), unavailable.get(p.slug, ""), p.slug == first)
        for p in profiles
    ]
    return {
        "profiles": views,
        "checked": first,
        "user_options": {"profile": preselect} if preselect else {},
    }


def kubespawner_profile_list(profiles: Sequence[Profile]) -> list[dict[str, Any]]:
    """The profiles as KubeSpawner's own ``form.html`` expects them (slug, defaults filled in)."""
    result = []
    for p in profiles:
        raw = copy.deepcopy(dict(p.raw))
        raw["default"] = p.default
        for option in (raw.get("profile_options") or {}).values():
            choices = option.get("choices") or {}
            if choices and not any((c or {}).get("default") for c in choices.values()):
                first = next(iter(choices))
                choices[first] = dict(choices[first] or {}, default=True)
            unlisted = option.setdefault("unlisted_choice", {})
            unlisted.setdefault("enabled", False)
            if unlisted["enabled"]:
                unlisted.setdefault("display_name_in_choices", "Other...")
        result.append(raw)
    if result and not any(p.get("default") for p in result):
        result[0]["default"] = True
    return result


class FormTemplates:
    """Where the form template comes from: a literal template, else the first ``form.html``
    in ``paths``, else ours. ``imagine/form.html`` is always ours (for ``{% extends %}``)."""

    def __init__(self, paths: Sequence[str] = (), literal: str = "") -> None:
        self.paths = tuple(str(p) for p in paths)
        self.literal = literal
        self.env = _environment(self.paths)

    @property
    def customised(self) -> bool:
        return bool(self.paths or self.literal)

    def template(self) -> Template:
        if self.literal:
            return _from_string(self.env, self.literal)
        return self.env.get_template(FORM_TEMPLATE)

    def render(self, context: Mapping[str, Any]) -> str:
        return str(self.template().render(**context))


@lru_cache(maxsize=16)
def _environment(paths: tuple[str, ...]) -> Environment:
    # One environment per set of paths for the process: templates compile once (Jinja2 still
    # reloads a template file the admin edits). KubeSpawner builds one at every render.
    builtin = FileSystemLoader(str(TEMPLATE_DIR))
    loader = ChoiceLoader(
        [FileSystemLoader(list(paths)), PrefixLoader({BUILTIN_PREFIX: builtin}), builtin]
    )
    env = Environment(loader=loader, autoescape=True)
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}  # keep the admin's order
    return env


@lru_cache(maxsize=16)
def _from_string(env: Environment, source: str) -> Template:
    return env.from_string(source)


_BUILTIN = FormTemplates()


def render_form(
    profiles: Sequence[Profile],
    availability: Mapping[str, Availability],
    unavailable: Mapping[str, str],
    preselect: str = "",
    templates: FormTemplates | None = None,
) -> str:
    """Radio list of the profiles the user may use; full ones disabled with the reason."""
    templates = templates or _BUILTIN
    context = form_context(profiles, availability, unavailable, preselect)
    if templates.customised:  # KubeSpawner's own template (or one derived from it) reads these
        context["profile_list"] = kubespawner_profile_list(profiles)
    return templates.render(context)


class SpawnFormMixin(LoggingConfigurable):
    """The admin's form template settings, with KubeSpawner's names and lookup rules."""

    additional_profile_form_template_paths = List(
        Unicode(),
        config=True,
        help="""Folders searched, in order, for a `form.html` that replaces the spawn form.

        It is a Jinja2 template (autoescaped) with `profiles` (one view per profile the user
        may see: `slug`, `display_name`, `description`, `checked`, `reason` why it cannot be
        chosen now, `availability` text, `options`, and `profile` with the admin's `raw`
        dict), `checked` (the slug selected), and, as KubeSpawner's template has them,
        `profile_list` and `user_options`. To change a part only, begin the file with
        `{% extends "imagine/form.html" %}` and override its blocks: `styles`, `legend`,
        `profile`, `profile_label`, `availability`, `description`, `options`, `option`.""",
    )
    profile_form_template = Unicode(
        "",
        config=True,
        help="""A literal Jinja2 template for the spawn form, used instead of any `form.html`
        (same variables as in `additional_profile_form_template_paths`, which is the easier
        way to keep a template in its own file).""",
    )

    def form_templates(self) -> FormTemplates:
        return FormTemplates(self.additional_profile_form_template_paths,
                             self.profile_form_template)

    def render_form(
        self,
        profiles: Sequence[Profile],
        availability: Mapping[str, Availability],
        unavailable: Mapping[str, str],
        preselect: str = "",
    ) -> str:
        """The form for ``profiles`` with the admin's template; ours if that one fails."""
        templates = self.form_templates()
        try:
            return render_form(profiles, availability, unavailable, preselect, templates)
        except TemplateError as exc:
            if not templates.customised:
                raise
            self.log.error(
                "%s.additional_profile_form_template_paths / profile_form_template: the spawn "
                "form template failed (%s: %s); showing the built-in form instead",
                type(self).__name__, type(exc).__name__, exc,
            )
            return render_form(profiles, availability, unavailable, preselect)
