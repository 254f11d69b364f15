"""The spawn form as HTML, from profiles and their availability (pure; everything escaped)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from .profiles import Profile


@dataclass(frozen=True)
class Availability:
    free: int
    total: int
    unit: str  # "A100 GPUs", "1g.10gb MIG slices"

    def text(self) -> str:
        return f"{self.free} of {self.total} {self.unit} free"


def _choice_tags(choices: dict[str, Any], default: str) -> str:
    return "".join(
        f'<option value="{escape(key, quote=True)}"{" selected" if key == default else ""}>'
        f"{escape(str((c or {}).get('display_name') or key))}</option>"
        for key, c in choices.items()
    )


def _options_html(profile: Profile) -> str:
    """KubeSpawner's field names: profile-option-<slug>--<option>[--unlisted-choice]."""
    parts = []
    for name, spec in profile.options.items():
        field = escape(f"profile-option-{profile.slug}--{name}", quote=True)
        choices = spec.get("choices") or {}
        default = next((k for k, c in choices.items() if (c or {}).get("default")), "")
        tags = _choice_tags(choices, default or next(iter(choices), ""))
        unlisted = spec.get("unlisted_choice") or {}
        other = ""
        if unlisted.get("enabled"):
            label = escape(str(unlisted.get("display_name_in_choices") or "Other..."))
            tags += f'<option value="unlisted-choice">{label}</option>'
            regex = unlisted.get("validation_regex")
            pattern = f' pattern="{escape(regex, quote=True)}"' if regex else ""
            other = (
                f'<input type="text" name="{field}--unlisted-choice"{pattern} '
                f'placeholder="{escape(str(unlisted.get("display_name") or "Other"), quote=True)}">'
            )
        title = escape(str(spec.get("display_name") or name))
        parts.append(
            f'<div class="imagine-option"><label>{title} <select name="{field}">{tags}</select>'
            f"</label>{other}</div>"
        )
    return "".join(parts)


def _profile_item(profile: Profile, availability: Availability | None, reason: str,
                  checked: bool) -> str:
    slug = escape(profile.slug, quote=True)
    disabled = " disabled" if reason else ""
    check = " checked" if checked and not reason else ""
    avail = f'<span class="imagine-availability">{escape(availability.text())}</span>' \
        if availability else ""
    why = f'<span class="imagine-unavailable">{escape(reason)}</span>' if reason else ""
    desc = f'<p class="imagine-description">{escape(profile.description)}</p>' \
        if profile.description else ""
    return (
        f'<div class="imagine-profile{" imagine-full" if reason else ""}" data-slug="{slug}">'
        f'<input type="radio" name="profile" id="profile-item-{slug}" value="{slug}"'
        f"{check}{disabled}>"
        f'<label for="profile-item-{slug}"><strong>{escape(profile.display_name)}</strong> '
        f"{avail} {why}</label>{desc}{_options_html(profile)}</div>"
    )


def render_form(
    profiles: list[Profile],
    availability: dict[str, Availability],
    unavailable: dict[str, str],
    preselect: str = "",
) -> str:
    """Radio list of the profiles the user may use; full ones disabled with the reason."""
    usable = [p for p in profiles if p.slug not in unavailable]
    first = preselect if preselect in {p.slug for p in usable} else ""
    first = first or next((p.slug for p in usable if p.default), "")
    first = first or (usable[0].slug if usable else "")
    items = "\n".join(
        _profile_item(p, availability.get(p.slug), unavailable.get(p.slug, ""), p.slug == first)
        for p in profiles
    )
    return (
        '<fieldset class="imagine-profiles"><legend>Choose a profile</legend>\n'
        f"{items}\n</fieldset>\n"
        "<style>.imagine-profile{margin:.5em 0}.imagine-availability{color:#2a7a2a}"
        ".imagine-unavailable{color:#a33}.imagine-full label{opacity:.7}"
        ".imagine-description,.imagine-option{margin:.1em 0 0 1.6em;font-size:90%}</style>"
    )
