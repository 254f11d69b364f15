"""Who may log in, who is admin, which capabilities a user has: pure decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .entitlements import (
    DEFAULT_NAMESPACES,
    Membership,
    Rule,
    group_names,
    keycloak_memberships,
    matching,
    parse_entitlements,
    parse_rules,
)


@dataclass(frozen=True)
class ClaimSources:
    """Where memberships come from in the (validated) claims."""

    entitlements_claim: str = "eduperson_entitlement"
    groups_claim: str = ""
    keycloak_roles: bool = False
    client_id: str = ""
    namespaces: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_NAMESPACES))
    ignored_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """Rules from config: ``allowed`` to log in, ``admin``, and named ``capabilities``."""

    allowed: list[Rule]
    admin: list[Rule]
    capabilities: dict[str, list[Rule]]

    @classmethod
    def from_config(
        cls,
        allowed: Iterable[str],
        admin: Iterable[str],
        capabilities: Mapping[str, Iterable[str]],
        namespaces: Mapping[str, str] = DEFAULT_NAMESPACES,
    ) -> Policy:
        return cls(
            parse_rules(sorted(allowed), namespaces),
            parse_rules(sorted(admin), namespaces),
            {name: parse_rules(rules, namespaces) for name, rules in capabilities.items()},
        )


@dataclass(frozen=True)
class Decision:
    """The outcome for one user; ``allowed`` is None when no group rule restricts login."""

    allowed: bool | None
    admin: bool | None
    groups: list[str]
    capabilities: list[str]
    entitlements: list[str]
    reason: str


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, (list, tuple, set)) else []


def memberships_from_claims(
    userinfo: Mapping[str, Any], access_claims: Mapping[str, Any], src: ClaimSources
) -> tuple[list[Membership], list[str]]:
    """Memberships and raw entitlements. Userinfo wins; the access token fills what it lacks."""
    entitlements: list[str] = []
    if src.entitlements_claim:
        entitlements = [
            e for e in _list(userinfo.get(src.entitlements_claim)) if isinstance(e, str)
        ]
    memberships = parse_entitlements(entitlements, src.namespaces)
    groups: list[Any] = []
    if src.groups_claim:
        groups = _list(userinfo.get(src.groups_claim, access_claims.get(src.groups_claim)))
    realm_roles: list[Any] = []
    client_roles: dict[str, list[Any]] = {}
    if src.keycloak_roles:
        realm = userinfo.get("realm_access") or access_claims.get("realm_access") or {}
        realm_roles = _list(realm.get("roles")) if isinstance(realm, Mapping) else []
        resources = userinfo.get("resource_access") or access_claims.get("resource_access") or {}
        if isinstance(resources, Mapping):
            for client, value in resources.items():
                if isinstance(value, Mapping):
                    client_roles[str(client)] = _list(value.get("roles"))
    # Keycloak group paths start with "/"; plain names (other providers) do too once prefixed.
    groups = [g if g.startswith("/") else f"/{g}" for g in groups if isinstance(g, str)]
    realm_roles = [r for r in realm_roles if not _ignored(str(r), src.ignored_roles)]
    client_roles = {
        c: [r for r in roles if not _ignored(f"{c}:{r}", src.ignored_roles)]
        for c, roles in client_roles.items()
    }
    memberships += keycloak_memberships(groups, realm_roles, client_roles)
    return memberships, entitlements


def _ignored(role: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(role, p) for p in patterns)


def decide(policy: Policy, memberships: list[Membership], entitlements: list[str]) -> Decision:
    """Apply the policy to one user's memberships."""
    groups = group_names(memberships)
    caps = sorted(
        name for name, rules in policy.capabilities.items() if matching(rules, memberships)
    )
    admin = bool(matching(policy.admin, memberships)) if policy.admin else None
    if not policy.allowed:
        return Decision(None, admin, groups, caps, entitlements, "no allowed_groups configured")
    hits = matching(policy.allowed, memberships)
    if hits:
        reason = f"member of {hits[0]}"
    else:
        reason = "not in any of " + ", ".join(str(r) for r in policy.allowed)
    return Decision(bool(hits), admin, groups, caps, entitlements, reason)


def imagine_state(decision: Decision) -> dict[str, list[str]]:
    """The ``auth_state["imagine"]`` section (see docs/auth-state.md)."""
    return {
        "groups": list(decision.groups),
        "capabilities": list(decision.capabilities),
        "entitlements": list(decision.entitlements),
    }
