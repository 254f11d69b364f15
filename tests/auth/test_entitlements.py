"""The pure entitlement parser and rule matching."""

from __future__ import annotations

import pytest

from jupyterhub_imagine.auth.access import (
    ClaimSources,
    Policy,
    RuleSettings,
    decide,
    memberships_from_claims,
    policy_from_config,
)
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
        ("kc-client:jupyterhub:admin", Rule("kc-client:jupyterhub:admin")),
        ("kc-realm:gpu-user", Rule("kc-realm:gpu-user")),
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
        "kc-realm:gpu-user",
        "kc-client:jupyterhub:admin",
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
        "kc-client:jupyterhub:admin",
        "kc-realm:gpu-user",
        "kc:imagine",
    ]
    assert raw == []


def test_no_allowed_rules_means_no_group_decision():
    d = decide(Policy.from_config([], [], {}), [], [])
    assert d.allowed is None


def test_realm_and_client_roles_no_longer_share_a_name():
    """A realm role named ``jupyterhub:admin`` is not role ``admin`` of client ``jupyterhub``."""
    realm = keycloak_memberships(realm_roles=["jupyterhub:admin"])[0]
    client = keycloak_memberships(client_roles={"jupyterhub": ["admin"]})[0]
    assert realm.group == "kc-realm:jupyterhub:admin"
    assert client.group == "kc-client:jupyterhub:admin"
    assert not parse_rule("kc-client:jupyterhub:admin").matches(realm)
    assert parse_rule("kc-client:jupyterhub").matches(client)  # any role of the client


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("kc-role:gpu-user", "write 'kc-realm:gpu-user'"),
        ("kc-role:jupyterhub:admin", "write 'kc-client:jupyterhub:admin'"),
    ],
    ids=["realm-role", "client-role"],
)
def test_the_retired_kc_role_namespace_is_refused_with_advice(text: str, advice: str):
    with pytest.raises(ValueError, match="retired 'kc-role:' namespace") as e:
        parse_rule(text)
    assert advice in str(e.value) and "docs/migration.md" in str(e.value)


RULE_SHAPED = [
    ("allowed_groups", "urn:mace:egi.eu:group:vo.a#aai.egi.eu", "an entitlement URN"),
    ("admin_groups", "egi:vo.a:role=manager", "':role='"),
    ("allowed_groups", "kc:imagine:role=member", "':role='"),
    ("allowed_groups", "egi:vo.a", "also admitted its sub-groups"),
    ("admin_groups", "kc-client:jupyterhub:admin", "also admitted its sub-groups"),
    ("allowed_groups", "kc-role:imagine-user", "'kc-realm:imagine-user'"),
]


@pytest.mark.parametrize(
    ("setting", "name", "why"), RULE_SHAPED, ids=[f"{s}-{n}" for s, n, _ in RULE_SHAPED]
)
def test_rules_in_upstream_group_settings_stop_the_hub(setting: str, name: str, why: str):
    settings = RuleSettings([], [], {}, **{setting: [name]})  # type: ignore[arg-type]
    policy, problems = policy_from_config(settings)
    assert policy is None and len(problems) == 1
    rules = setting.replace("_groups", "_rules")
    assert problems[0].startswith(f"ImagineOAuthenticator.{setting}: {name!r}")
    assert why in problems[0]
    assert f"ImagineOAuthenticator.{rules}" in problems[0] and "docs/migration.md" in problems[0]


def test_plain_group_names_keep_oauthenticators_meaning():
    settings = RuleSettings(["egi:vo.a"], [], {}, ["staff", "example.org:team"], ["admins"])
    policy, problems = policy_from_config(settings)
    assert problems == [] and policy is not None
    assert [str(r) for r in policy.allowed] == ["egi:vo.a"]  # the plain names are no rules


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        (RuleSettings(["kc-role:a"], [], {}), "ImagineOAuthenticator.allowed_rules"),
        (RuleSettings([], ["urn:example:x"], {}), "ImagineOAuthenticator.admin_rules"),
        (RuleSettings([], [], {"gpu": ["kc-role:a:b"]}), "ImagineOAuthenticator.capabilities"),
    ],
    ids=["allowed_rules", "admin_rules", "capabilities"],
)
def test_bad_rules_name_their_setting(settings: RuleSettings, where: str):
    policy, problems = policy_from_config(settings)
    assert policy is None and problems[0].startswith(where)
