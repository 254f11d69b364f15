"""Settings shared by the hub hooks, the report command and the admin page."""

from __future__ import annotations

import os

from traitlets import Float, Int, List, Unicode, default, validate
from traitlets.config import SingletonConfigurable

from .periods import parse_day, ts

KEY_ENV = "IMAGINE_ACCOUNTING_KEY"


class AccountingConfigError(ValueError):
    """A setting of ImagineAccounting is missing or malformed; the message names it."""


class ImagineAccounting(SingletonConfigurable):
    """Where session records live, how people are pseudonymised, and what reports compare to."""

    db_url = Unicode(
        "sqlite:///jupyterhub_imagine_accounting.sqlite",
        config=True,
        help="""SQLAlchemy URL of the accounting database, e.g.
        `postgresql+psycopg://acct@db/imagine`. May be the hub's or the culler's database: the
        accounting has its own tables and its own migration version table.""",
    )
    pseudonym_key = Unicode(
        config=True,
        help=f"""Secret key of the keyed hash (HMAC-SHA256) that turns usernames into pseudonyms.
        Keep it stable: a new key makes every user look new. Default: ${KEY_ENV}. Never logged.""",
    )
    country_claim = Unicode(
        "",
        config=True,
        help="""Userinfo claim holding the user's two-letter country code, e.g. `country`;
        empty: derive it from the home organisation (see `organisation_claims`).""",
    )
    organisation_claims = List(
        Unicode(),
        ["schac_home_organization", "voperson_external_affiliation",
         "eduperson_scoped_affiliation"],
        config=True,
        help="""Userinfo claims naming the home organisation's domain (`uni.example.de` or
        `member@uni.example.de`); the first with a country-code TLD gives the country.
        Neither the claim nor the domain is stored, only the country code (or "unknown").""",
    )
    communities = List(
        Unicode(),
        config=True,
        help="""Community names to count sessions under, in order of preference, e.g.
        `["egi:vo.imagine.example", "umbrellaid:umbrellaid"]`. A user in several counts for
        the first listed; a user in none counts for their first group.""",
    )
    community_depth = Int(
        2,
        config=True,
        help="""Name parts kept of an unlisted group: 2 turns `egi:vo.example.org:gpu` into
        `egi:vo.example.org` (the VO).""",
    )
    default_cpus = Float(
        1.0,
        config=True,
        help="""CPUs counted for a server that has no `cpu_limit` (CPU-hours = CPUs x hours).""",
    )
    culler_db_url = Unicode(
        "",
        config=True,
        help="""SQLAlchemy URL of the idle-GPU culler's database; when set, the report and the
        admin page first copy its GPU-seconds (active, idle, unknown), postponements and stop
        reasons into the session records.""",
    )
    budget_gpu_hours = Float(
        0.0, config=True, help="GPU-hours granted for the budget period; 0: no budget lines."
    )
    budget_start = Unicode(
        "",
        config=True,
        help="""First day (YYYY-MM-DD) of the GPU budget period; empty: the report's --from.""",
    )
    rate_window_days = Float(
        30.0,
        config=True,
        help="Days of recent use whose average rate predicts when the budget runs out.",
    )
    grid_g_co2_per_kwh = Float(
        0.0,
        config=True,
        help="""Carbon intensity of the electricity in gCO2e per kWh, e.g. 250; 0: CO2 shown
        as 0.""",
    )
    energy_nvml_module = Unicode(
        "",
        config=True,
        help="""NVML binding the hub reads GPU energy counters with, for servers on the hub's
        own machine (local backend), e.g. `pynvml`; empty: energy comes only from the culler
        or stays unknown.""",
    )
    site_name = Unicode(
        "",
        config=True,
        help="""The site's name in the accounting repository (GOCDB SiteName), used in APEL
        exports; empty: the exporter asks for --site.""",
    )

    @default("pseudonym_key")
    def _key_from_env(self) -> str:
        return os.environ.get(KEY_ENV, "")

    @validate("budget_start")
    def _valid_start(self, proposal: dict) -> str:
        value = str(proposal["value"])
        if value:
            try:
                parse_day(value, "ImagineAccounting.budget_start")
            except ValueError as exc:
                raise AccountingConfigError(str(exc)) from None
        return value

    def key(self) -> bytes:
        """The pseudonym key, or an error that says how to set it."""
        if len(self.pseudonym_key) < 16:
            raise AccountingConfigError(
                "ImagineAccounting.pseudonym_key is missing or shorter than 16 characters: set"
                f" it (or ${KEY_ENV}) to a long random secret, e.g. `openssl rand -hex 32`"
            )
        return self.pseudonym_key.encode()

    def budget_start_ts(self) -> float | None:
        return ts(parse_day(self.budget_start, "budget_start")) if self.budget_start else None
