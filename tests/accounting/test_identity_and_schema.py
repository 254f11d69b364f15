"""Pseudonyms, community and country (pure), and the migrations on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jupyterhub_imagine.accounting import identity
from jupyterhub_imagine.accounting.config import AccountingConfigError, ImagineAccounting
from jupyterhub_imagine.accounting.schema import current_version, sessions, upgrade
from jupyterhub_imagine.accounting.spawninfo import gpus_from_limits


def test_pseudonym_is_keyed_stable_and_hides_the_name():
    a = identity.pseudonym(b"k" * 32, "alice")
    assert a == identity.pseudonym(b"k" * 32, "alice")
    assert a != identity.pseudonym(b"j" * 32, "alice") != identity.pseudonym(b"k" * 32, "bob")
    assert "alice" not in a and len(a) == 32
    assert identity.server_pseudonym(b"k" * 32, "alice", "") != identity.server_pseudonym(
        b"k" * 32, "alice", "gpu")


@pytest.mark.parametrize("groups, preferred, expected", [
    (["egi:vo.imagine.example:gpu", "egi:vo.other.example"], [], "egi:vo.imagine.example"),
    (["egi:vo.other.example", "egi:vo.imagine.example:gpu"], ["egi:vo.imagine.example"],
     "egi:vo.imagine.example"),
    (["kc:imagine/gpu"], ["kc:imagine"], "kc:imagine"),
    ([], ["egi:vo.imagine.example"], "unknown"),
    (["students"], [], "students"),
])
def test_community(groups, preferred, expected):
    assert identity.community(groups, preferred) == expected


@pytest.mark.parametrize("claims, claim, expected", [
    ({"country": "de"}, "country", "DE"),
    ({"country": "Germany", "schac_home_organization": "uni-heidelberg.de"}, "country", "DE"),
    ({"voperson_external_affiliation": ["member@cnrs.fr"]}, "", "FR"),
    ({"schac_home_organization": "ox.ac.uk"}, "", "GB"),
    ({"schac_home_organization": "cern.ch"}, "", "CH"),
    ({"schac_home_organization": "example.org"}, "", "unknown"),
    ({"schac_home_organization": "europa.eu"}, "", "unknown"),
    ({}, "country", "unknown"),
])
def test_country(claims, claim, expected):
    orgs = ["schac_home_organization", "voperson_external_affiliation"]
    assert identity.country(claims, claim, orgs) == expected


def test_gpus_from_kubernetes_limits():
    assert gpus_from_limits({"nvidia.com/gpu": 2}) == (2.0, "")
    assert gpus_from_limits({"nvidia.com/gpu": None, "nvidia.com/mig-1g.10gb": 1}) == (
        1.0, "1g.10gb")
    assert gpus_from_limits({}) == (0.0, "")


def test_a_short_or_missing_key_is_a_named_error(monkeypatch):
    monkeypatch.delenv("IMAGINE_ACCOUNTING_KEY", raising=False)
    with pytest.raises(AccountingConfigError, match="ImagineAccounting.pseudonym_key"):
        ImagineAccounting().key()
    monkeypatch.setenv("IMAGINE_ACCOUNTING_KEY", "x" * 40)
    assert ImagineAccounting().key() == b"x" * 40
    with pytest.raises(AccountingConfigError, match="budget_start must be a date"):
        ImagineAccounting(budget_start="March")


def test_migrations_create_once_and_leave_the_hubs_version_alone(db_url):
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:  # a database the hub already uses
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('hub-rev')"))
    assert current_version(engine) is None
    upgrade(engine)
    upgrade(engine)  # again: nothing to do
    assert current_version(engine) == "0001"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
            == "hub-rev"
        assert conn.execute(sa.select(sa.func.count()).select_from(sessions)).scalar() == 0
    columns = {c["name"] for c in sa.inspect(engine).get_columns(sessions.name)}
    assert columns == {c.name for c in sessions.columns}  # the model matches the migration
    engine.dispose()
