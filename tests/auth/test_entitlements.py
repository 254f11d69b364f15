"""The pure entitlement parser and rule matching."""

from __future__ import annotations

import pytest

from jupyterhub_imagine.auth.access import ClaimSources, Policy, decide, memberships_from_claims
from jupyterhub_imagine.auth.entitlements import (
    Membership,
    Rule,
    keycloak_memberships,
    parse_entitlement,
    parse_entitlements,
    parse_rule,
)


@pytest.mark.parametrize(
    ("value", "group", "role", "authority"),
    [
        (
            "urn:mace:egi.eu:group:vo.notebooks.egi.eu:role=member#aai.egi.eu",
            "egi:vo.notebooks.egi.eu",
            "member",
            "aai.egi.eu",
        ),
        (
            "urn:mace:egi.eu:group:vo.imagine.example:gpu:a100:role=manager#aai.egi.eu",
            "egi:vo.imagine.example:gpu:a100",
            "manager",
            "aai.egi.eu",
        ),
        ("urn:mace:egi.eu:group:vo.x", "egi:vo.x", None, None),
        (
            "urn:geant:eduteams.org:service:eduteams:group:myvo:sub#eduteams.org",
            "eduteams:myvo:sub",
            None,
            "eduteams.org",
        ),
        (
            "urn:geant:eduteams.org:service:umbrellaid.org:group:umbrellaid:imagine#umbrellaid.org",
            "umbrellaid:umbrellaid:imagine",
            None,
            "umbrellaid.org",
        ),
        (
            "urn:geant:eduteams.org:service:other.org:group:g1:role=admin#x",
            "other.org:g1",
            "admin",
            "x",
        ),
        (
            "urn:geant:eosc-federation.eu:group:pp-0f3c4a2e-1111-4c3e-9d7e-000000000001#proxy",
            "eosc-federation.eu:pp-0f3c4a2e-1111-4c3e-9d7e-000000000001",
            None,
            "proxy",
        ),
    ],
)
def test_parse_entitlement(value: str, group: str, role: str | None, authority: str | None):
    m = parse_entitlement(value)
    assert m is not None
    assert (m.group, m.role, m.authority, m.source) == (group, role, authority, value)


@pytest.mark.parametrize(
    "value",
    [
        "urn:mace:egi.eu:res:rec:something#aai.egi.eu",  # not a group entitlement
        "urn:mace:egi.eu:group:#aai.egi.eu",
        "urn:mace:egi.eu:group:vo::sub#x",
        "https://example.org/group/x",
        "",
    ],
)
def test_non_group_entitlements_are_skipped(value: str):
    assert parse_entitlement(value) is None


def test_parse_entitlements_skips_junk():
    ms = parse_entitlements(["urn:mace:egi.eu:group:vo.a#x", 42, None, "nonsense"])
    assert [m.group for m in ms] == ["egi:vo.a"]


def test_configured_namespace():
    ms = parse_entitlements(
        ["urn:mace:example.org:group:lab:role=member#idp"],
        {
            "urn:mace:example.org:group:": "lab",
        },
    )
    assert [(m.group, m.role) for m in ms] == [("lab:lab", "member")]


def test_rules_match_groups_subgroups_and_roles():
    gpu = parse_entitlement("urn:mace:egi.eu:group:vo.a:gpu:role=member#aai.egi.eu")
    manager = parse_entitlement("urn:mace:egi.eu:group:vo.a:role=manager#aai.egi.eu")
    assert gpu is not None and manager is not None
    assert Rule("egi:vo.a").matches(gpu)  # sub-group of the VO
    assert not Rule("egi:vo.ab").matches(gpu)  # a prefix is not a parent
    assert Rule("egi:vo.a:gpu", "member").matches(gpu)
    assert not Rule("egi:vo.a", "manager").matches(gpu)
    assert Rule("egi:vo.a", "manager").matches(manager)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("egi:vo.a", Rule("egi:vo.a")),
        ("egi:vo.a:role=manager", Rule("egi:vo.a", "manager")),
        ("urn:mace:egi.eu:group:vo.a:role=manager#aai.egi.eu", Rule("egi:vo.a", "manager")),
        ("urn:mace:egi.eu:group:vo.a#other.authority", Rule("egi:vo.a")),
        ("kc:imagine/gpu", Rule("kc:imagine/gpu")),
        ("kc-role:jupyterhub:admin", Rule("kc-role:jupyterhub:admin")),
    ],
)
def test_parse_rule(text: str, rule: Rule):
    assert parse_rule(text) == rule


def test_parse_rule_refuses_unknown_urns():
    with pytest.raises(ValueError, match="not a group entitlement"):
        parse_rule("urn:example:thing")


def test_keycloak_memberships():
    ms = keycloak_memberships(["/imagine/gpu", "/"], ["gpu-user"], {"jupyterhub": ["admin"]})
    assert [m.group for m in ms] == [
        "kc:imagine/gpu",
        "kc-role:gpu-user",
        "kc-role:jupyterhub:admin",
    ]
    assert Rule("kc:imagine").matches(ms[0])
    assert not Rule("kc:imagine").matches(Membership("kc", ("imagined",), sep="/"))


def test_decide_checkin_user():
    policy = Policy.from_config(
        ["egi:vo.a"], ["egi:vo.a:role=manager"], {"gpu": ["egi:vo.a:gpu"], "big": ["egi:vo.b"]}
    )
    ents = [
        "urn:mace:egi.eu:group:vo.a:role=member#aai.egi.eu",
        "urn:mace:egi.eu:group:vo.a:gpu:role=member#aai.egi.eu",
    ]
    ms, raw = memberships_from_claims({"eduperson_entitlement": ents}, {}, ClaimSources())
    d = decide(policy, ms, raw)
    assert (d.allowed, d.admin, d.capabilities) == (True, False, ["gpu"])
    assert d.groups == ["egi:vo.a", "egi:vo.a:gpu"]
    assert d.entitlements == ents


def test_decide_outsider_names_the_rules():
    policy = Policy.from_config(["egi:vo.a"], [], {})
    ms, raw = memberships_from_claims(
        {"eduperson_entitlement": ["urn:mace:egi.eu:group:vo.other#x"]}, {}, ClaimSources()
    )
    d = decide(policy, ms, raw)
    assert d.allowed is False and d.admin is None
    assert "egi:vo.a" in d.reason


def test_entitlements_come_from_userinfo_only():
    src = ClaimSources()
    access = {"eduperson_entitlement": ["urn:mace:egi.eu:group:vo.a#x"]}
    ms, raw = memberships_from_claims({}, access, src)
    assert ms == [] and raw == []


def test_keycloak_roles_from_the_access_token_when_missing_in_userinfo():
    src = ClaimSources(entitlements_claim="", groups_claim="groups", keycloak_roles=True)
    userinfo = {"groups": ["/imagine"]}
    access = {
        "groups": ["/ignored-because-userinfo-has-groups"],
        "realm_access": {"roles": ["gpu-user"]},
        "resource_access": {"jupyterhub": {"roles": ["admin"]}},
    }
    ms, raw = memberships_from_claims(userinfo, access, src)
    assert sorted(m.group for m in ms) == [
        "kc-role:gpu-user",
        "kc-role:jupyterhub:admin",
        "kc:imagine",
    ]
    assert raw == []


def test_no_allowed_groups_means_no_group_decision():
    d = decide(Policy.from_config([], [], {}), [], [])
    assert d.allowed is None
