"""Who may log in, who is admin, which capabilities a user has: pure decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .entitlements import (
    DEFAULT_NAMESPACES,
    LEGACY_ROLE_NS,
    MIGRATION_DOC,
    Membership,
    Rule,
    group_names,
    keycloak_memberships,
    legacy_role_replacements,
    matching,
    parse_entitlements,
    parse_rules,
    rule_shape,
)

SETTING = "ImagineOAuthenticator"

RULES_HELP = """
Each rule is a JupyterHub group name as this authenticator writes it, or an entitlement URN
(see docs/migration.md for the settings these replace):

- ``egi:vo.imagine.example`` matches members of the VO and of any of its sub-groups
  (``egi:vo.imagine.example:gpu``), whatever their role;
- ``egi:vo.imagine.example:gpu:role=member`` also requires that role in that group;
- ``urn:mace:egi.eu:group:vo.imagine.example:role=manager#aai.egi.eu`` is the same as
  ``egi:vo.imagine.example:role=manager`` (the ``#authority`` is ignored);
- Keycloak: ``kc:imagine/gpu`` (group path ``/imagine/gpu`` and its sub-groups),
  ``kc-realm:gpu-user`` (realm role), ``kc-client:jupyterhub:admin`` (role ``admin`` of client
  ``jupyterhub``; ``kc-client:jupyterhub`` is any role of that client);
- eduTEAMS / UmbrellaID: ``eduteams:<vo>[:<sub>]``, ``umbrellaid:umbrellaid:<sub>``.

A user satisfies a list of rules when any one rule matches any of their memberships.
"""


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
class RuleSettings:
    """The authorization settings as configured (rules, and upstream's plain group names)."""

    allowed_rules: list[str]
    admin_rules: list[str]
    capabilities: dict[str, list[str]]
    allowed_groups: list[str] = field(default_factory=list)
    admin_groups: list[str] = field(default_factory=list)


def _plain_name_problem(setting: str, name: str, namespaces: Mapping[str, str]) -> str | None:
    """A rule written where oauthenticator expects a plain hub group name."""
    shape = rule_shape(name, namespaces)
    if shape is None:
        return None
    rules = setting.replace("_groups", "_rules")
    rule = repr(name)
    if name.startswith(LEGACY_ROLE_NS + ":"):
        rule = " or ".join(repr(r) for r in legacy_role_replacements(name))
    return (
        f"{SETTING}.{setting}: {name!r} is {shape}. {setting} now has oauthenticator's meaning "
        f"(exact hub group names); to keep the rule's meaning move it to {SETTING}.{rules} "
        f"as {rule}. See {MIGRATION_DOC}."
    )


def policy_from_config(
    settings: RuleSettings, namespaces: Mapping[str, str] = DEFAULT_NAMESPACES
) -> tuple[Policy | None, list[str]]:
    """The policy, or the problems that keep the hub from starting (each naming a setting)."""
    problems = []
    for setting in ("allowed_groups", "admin_groups"):
        for name in getattr(settings, setting):
            problem = _plain_name_problem(setting, name, namespaces)
            if problem:
                problems.append(problem)
    checks: list[tuple[str, list[str]]] = [
        ("allowed_rules", settings.allowed_rules),
        ("admin_rules", settings.admin_rules),
    ]
    checks += [(f"capabilities[{k!r}]", v) for k, v in settings.capabilities.items()]
    for setting, texts in checks:
        for text in texts:
            try:
                parse_rules([text], namespaces)
            except ValueError as e:
                problems.append(f"{SETTING}.{setting}: {e}")
    if problems:
        return None, problems
    policy = Policy.from_config(
        settings.allowed_rules, settings.admin_rules, settings.capabilities, namespaces
    )
    return policy, []


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
        return Decision(None, admin, groups, caps, entitlements, "no allowed_rules configured")
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
