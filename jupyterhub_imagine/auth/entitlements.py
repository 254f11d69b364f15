"""Community memberships: parse entitlements and Keycloak claims, match access rules.

Pure functions on plain data; no I/O. Every membership gets a readable, namespaced name that
becomes a JupyterHub group, for example

- ``urn:mace:egi.eu:group:vo.imagine.example:gpu:role=member#aai.egi.eu``
  -> ``egi:vo.imagine.example:gpu``
- ``urn:geant:eduteams.org:service:umbrellaid.org:group:umbrellaid:imagine#umbrellaid.org``
  -> ``umbrellaid:umbrellaid:imagine``
- Keycloak group ``/imagine/gpu`` -> ``kc:imagine/gpu``; realm role ``gpu-user`` ->
  ``kc-realm:gpu-user``; client role ``admin`` of client ``jupyterhub`` ->
  ``kc-client:jupyterhub:admin``
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Entitlement prefixes (up to and including ":group:") and the namespace they get.
DEFAULT_NAMESPACES: dict[str, str] = {
    "urn:mace:egi.eu:group:": "egi",
    "urn:geant:eduteams.org:service:eduteams:group:": "eduteams",
    "urn:geant:eduteams.org:service:umbrellaid.org:group:": "umbrellaid",
}

KEYCLOAK_GROUP_NS = "kc"
KEYCLOAK_REALM_NS = "kc-realm"
KEYCLOAK_CLIENT_NS = "kc-client"
# Realm and client roles once shared one namespace; its names are refused, not guessed.
LEGACY_ROLE_NS = "kc-role"
MIGRATION_DOC = "docs/migration.md"


@dataclass(frozen=True)
class Membership:
    """One group membership, with the role the user has in the right-most group."""

    namespace: str
    path: tuple[str, ...]
    role: str | None = None
    authority: str | None = None
    sep: str = ":"
    source: str = ""

    @property
    def group(self) -> str:
        """The readable JupyterHub group name, e.g. ``egi:vo.imagine.example:gpu``."""
        return f"{self.namespace}:{self.sep.join(self.path)}"


@dataclass(frozen=True)
class Rule:
    """An access rule: a group name (matches the group and its sub-groups), optionally a role."""

    group: str
    role: str | None = None

    def matches(self, m: Membership) -> bool:
        if self.role is not None and m.role != self.role:
            return False
        name = m.group
        return name == self.group or name.startswith(self.group + m.sep)

    def __str__(self) -> str:
        return self.group if self.role is None else f"{self.group}:role={self.role}"


def _split_role(parts: list[str]) -> tuple[list[str], str | None]:
    if parts and parts[-1].startswith("role="):
        return parts[:-1], parts[-1][len("role=") :] or None
    return parts, None


def _namespace_for(urn: str, namespaces: Mapping[str, str]) -> tuple[str, str] | None:
    """(namespace, rest) for the longest configured prefix, else a generic ``urn:geant`` form."""
    for prefix in sorted(namespaces, key=len, reverse=True):
        if urn.lower().startswith(prefix.lower()):
            return namespaces[prefix], urn[len(prefix) :]
    parts = urn.split(":")
    # urn:geant:eduteams.org:service:<service>:group:...
    eduteams = parts[:4] == ["urn", "geant", "eduteams.org", "service"]
    if eduteams and len(parts) > 6 and parts[5] == "group":
        return parts[4], ":".join(parts[6:])
    # urn:geant:<ns>:group:... (e.g. EOSC personal projects pp-<uuid>)
    if parts[:2] == ["urn", "geant"] and len(parts) > 4 and parts[3] == "group":
        return parts[2], ":".join(parts[4:])
    return None


def parse_entitlement(
    value: str, namespaces: Mapping[str, str] = DEFAULT_NAMESPACES
) -> Membership | None:
    """Parse one AARC-G002 group entitlement; ``None`` when it is not a group entitlement."""
    urn, _, authority = value.strip().partition("#")
    found = _namespace_for(urn, namespaces)
    if found is None:
        return None
    namespace, rest = found
    path, role = _split_role(rest.split(":"))
    if not path or any(not p for p in path):
        return None
    return Membership(namespace, tuple(path), role, authority or None, ":", value)


def parse_entitlements(
    values: Iterable[object], namespaces: Mapping[str, str] = DEFAULT_NAMESPACES
) -> list[Membership]:
    """All group memberships in ``values``; other entries (non-strings, non-groups) are skipped."""
    out = []
    for value in values:
        if isinstance(value, str):
            m = parse_entitlement(value, namespaces)
            if m is not None:
                out.append(m)
    return out


def keycloak_memberships(
    groups: Iterable[object] = (),
    realm_roles: Iterable[object] = (),
    client_roles: Mapping[str, Iterable[object]] | None = None,
) -> list[Membership]:
    """Memberships from Keycloak group paths (``/a/b``), realm roles and client roles."""
    out = []
    for g in groups:
        if isinstance(g, str) and g.strip("/"):
            out.append(
                Membership(KEYCLOAK_GROUP_NS, tuple(g.strip("/").split("/")), sep="/", source=g)
            )
    for r in realm_roles:
        if isinstance(r, str) and r:
            out.append(Membership(KEYCLOAK_REALM_NS, (r,), source=r))
    for client, roles in (client_roles or {}).items():
        for r in roles:
            if isinstance(r, str) and r:
                out.append(Membership(KEYCLOAK_CLIENT_NS, (client, r), source=f"{client}:{r}"))
    return out


def parse_rule(text: str, namespaces: Mapping[str, str] = DEFAULT_NAMESPACES) -> Rule:
    """A rule is an entitlement URN (authority ignored) or a group name, optionally ``:role=R``."""
    text = text.strip()
    if text.startswith(LEGACY_ROLE_NS + ":"):
        raise ValueError(legacy_role_message(text))
    if text.lower().startswith("urn:"):
        m = parse_entitlement(text, namespaces)
        if m is None:
            raise ValueError(f"{text!r} is not a group entitlement this parser understands")
        return Rule(m.group, m.role)
    head, sep, role = text.rpartition(":role=")
    if sep:
        return Rule(head, role or None)
    return Rule(text)


def legacy_role_replacements(text: str) -> list[str]:
    """What a ``kc-role:`` name means now: client role first when it has a colon."""
    rest = text.split(":", 1)[1]
    if ":" in rest:
        return [f"{KEYCLOAK_CLIENT_NS}:{rest}", f"{KEYCLOAK_REALM_NS}:{rest}"]
    return [f"{KEYCLOAK_REALM_NS}:{rest}"]


def legacy_role_message(text: str) -> str:
    """What to write instead of a ``kc-role:`` name (realm and client roles are now apart)."""
    new = legacy_role_replacements(text)
    hint = repr(new[0])
    if len(new) > 1:
        client, role = text.split(":", 2)[1:]
        hint += f" (role {role!r} of client {client!r}), or {new[1]!r} if it is a realm role"
    return f"{text!r} uses the retired 'kc-role:' namespace; write {hint}. See {MIGRATION_DOC}."


def written_namespaces(namespaces: Mapping[str, str] = DEFAULT_NAMESPACES) -> set[str]:
    """The namespaces of the group names this parser writes (known in advance)."""
    return {*namespaces.values(), KEYCLOAK_GROUP_NS, KEYCLOAK_REALM_NS, KEYCLOAK_CLIENT_NS}


def rule_shape(text: str, namespaces: Mapping[str, str] = DEFAULT_NAMESPACES) -> str | None:
    """Why ``text`` reads as an access rule (URN, ``:role=``, a namespaced group name whose
    rule also admits sub-groups, ``kc-role:``), or None for a plain group name."""
    if text.lower().startswith("urn:"):
        return "an entitlement URN"
    if ":role=" in text:
        return "a rule with ':role='"
    head = text.split(":", 1)[0]
    if ":" in text and head == LEGACY_ROLE_NS:
        return "a name in the retired 'kc-role:' namespace"
    if ":" in text and head in written_namespaces(namespaces):
        return f"a '{head}:' group name, which as a rule also admitted its sub-groups"
    return None


def parse_rules(
    texts: Iterable[str], namespaces: Mapping[str, str] = DEFAULT_NAMESPACES
) -> list[Rule]:
    return [parse_rule(t, namespaces) for t in texts]


def matching(rules: Iterable[Rule], memberships: Iterable[Membership]) -> list[Rule]:
    """The rules that at least one membership satisfies."""
    ms = list(memberships)
    return [r for r in rules if any(r.matches(m) for m in ms)]


def group_names(memberships: Iterable[Membership]) -> list[str]:
    """Sorted, de-duplicated JupyterHub group names."""
    return sorted({m.group for m in memberships})
