"""Provider presets: the defaults each ``ImagineOAuthenticator.preset`` sets.

Any single trait set in config overrides the preset's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHECKIN_ISSUERS = {
    "production": "https://aai.egi.eu/auth/realms/egi",
    "demo": "https://aai-demo.egi.eu/auth/realms/egi",
    "development": "https://aai-dev.egi.eu/auth/realms/egi",
}


@dataclass(frozen=True)
class Preset:
    """Defaults for one kind of provider."""

    name: str
    login_service: str
    issuer: str = ""  # empty: the issuer must be configured
    scope: tuple[str, ...] = ("openid", "profile", "email")
    username_claim: str = "sub"
    entitlements_claim: str = "eduperson_entitlement"
    groups_claim: str = ""
    keycloak_roles: bool = False
    community_label: str = "community"
    enrollment_url: str = ""
    namespaces: dict[str, str] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "egi-checkin": Preset(
        name="egi-checkin",
        login_service="EGI Check-in",
        issuer=CHECKIN_ISSUERS["production"],
        scope=(
            "openid",
            "profile",
            "email",
            "eduperson_scoped_affiliation",
            "eduperson_entitlement",
            "voperson_id",
            "offline_access",
        ),
        # preferred_username is not unique in Check-in; voperson_id is.
        username_claim="voperson_id",
        community_label="virtual organisation (VO)",
        enrollment_url="https://docs.egi.eu/users/aai/check-in/joining-virtual-organisation/",
    ),
    "umbrellaid": Preset(
        name="umbrellaid",
        login_service="UmbrellaID",
        scope=("openid", "profile", "email", "eduperson_entitlement", "offline_access"),
        username_claim="sub",
        community_label="UmbrellaID group",
        enrollment_url="https://www.umbrellaid.org/",
    ),
    "keycloak": Preset(
        name="keycloak",
        login_service="Keycloak",
        scope=("openid", "profile", "email", "offline_access"),
        # Keycloak keeps usernames unique within a realm.
        username_claim="preferred_username",
        entitlements_claim="",
        groups_claim="groups",
        keycloak_roles=True,
        community_label="group or role",
    ),
    "generic": Preset(
        name="generic",
        login_service="OpenID Connect",
        scope=("openid", "profile", "email", "offline_access"),
        groups_claim="groups",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
