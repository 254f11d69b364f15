"""The spawn form as HTML, from profiles and their availability (pure; everything escaped)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .profiles import Profile


@dataclass(frozen=True)
class Availability:
    free: int
    total: int
    unit: str  # "A100 GPUs", "1g.10gb MIG slices"

    def text(self) -> str:
        return f"{self.free} of {self.total} {self.unit} free"


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
        f"{avail} {why}</label>{desc}</div>"
    )


def render_form(
    profiles: list[Profile],
    availability: dict[str, Availability],
    unavailable: dict[str, str],
    preselect: str = "",
) -> str:
    """Radio list of the profiles the user may use; full ones disabled with the reason."""
    usable = [p for p in profiles if p.slug not in unavailable]
    first = preselect or next((p.slug for p in usable if p.default), "")
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
        ".imagine-description{margin:.1em 0 0 1.6em;font-size:90%}</style>"
    )
