"""Hub-side CPU time per login: ImagineOAuthenticator vs stock GenericOAuthenticator.

Both hubs run side by side against one development OpenID provider (Check-in shape) and do the
same scripted logins (provider form, code exchange, userinfo, auth state, groups). The CPU time of
each hub process (user + system, from /proc/<pid>/stat) is read before and after each round;
rounds alternate between the hubs so that load on the machine hits both alike.

    .venv/bin/python bench/login_cost.py [--logins 60] [--rounds 6]

Target: ratio Imagine/Generic <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyterhub_imagine.demo.oidc import OIDCClient, OIDCProvider  # noqa: E402
from tests.auth.hub import Hub  # noqa: E402
from tests.support.oidc import scripted_login  # noqa: E402

VO = "urn:mace:egi.eu:group:vo.imagine.example"
# The egi-checkin preset's scopes, so both hubs get the same token and userinfo responses.
SCOPE = [
    "openid",
    "profile",
    "email",
    "eduperson_scoped_affiliation",
    "eduperson_entitlement",
    "voperson_id",
    "offline_access",
]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def imagine_config(issuer: str, client: OIDCClient) -> str:
    return f"""
c.JupyterHub.authenticator_class = "imagine"
c.ImagineOAuthenticator.issuer = {issuer!r}
c.ImagineOAuthenticator.client_id = {client.client_id!r}
c.ImagineOAuthenticator.client_secret = {client.client_secret!r}
c.ImagineOAuthenticator.allowed_rules = [{VO!r}]
c.ImagineOAuthenticator.capabilities = {{"gpu": [{VO + ":gpu"!r}]}}
"""


def generic_config(issuer: str, client: OIDCClient) -> str:
    """The stock authenticator doing the same job as far as it can: same scopes, endpoints,
    auth state, groups from entitlements, access by group."""
    meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    return f"""
c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.authorize_url = {meta["authorization_endpoint"]!r}
c.GenericOAuthenticator.token_url = {meta["token_endpoint"]!r}
c.GenericOAuthenticator.userdata_url = {meta["userinfo_endpoint"]!r}
c.GenericOAuthenticator.client_id = {client.client_id!r}
c.GenericOAuthenticator.client_secret = {client.client_secret!r}
c.GenericOAuthenticator.basic_auth = True  # the provider's clients use client_secret_basic
c.GenericOAuthenticator.scope = {SCOPE!r}
c.GenericOAuthenticator.username_claim = "voperson_id"
c.GenericOAuthenticator.enable_auth_state = True
c.GenericOAuthenticator.manage_groups = True
c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.eduperson_entitlement"
c.GenericOAuthenticator.allowed_groups = {{{VO + ":role=member#aai.egi.eu"!r}}}
"""


@dataclass
class BenchHub:
    """A test hub (tests/auth/hub.py) with ``auth_config`` over its authenticator settings, and
    the CPU time its process spent on logins."""

    name: str
    workdir: Path
    hub: Hub = field(init=False)
    cpu: float = 0.0
    wall: float = 0.0
    logins: int = 0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True)
        self.hub = Hub(self.workdir, {})

    @property
    def url(self) -> str:
        return self.hub.url

    def start(self, auth_config: str) -> None:
        self.hub.extra_config = (
            'c.JupyterHub.log_level = "WARN"\n'
            f'c.Authenticator.oauth_callback_url = "{self.url}/hub/oauth_callback"\n' + auth_config
        )
        self.hub.start(timeout=120)

    def log(self) -> str:
        return self.hub.log[-3000:]

    def login(self) -> None:
        r = scripted_login(requests.Session(), self.url, "alice", "alice")
        if r.status_code != 302:
            raise RuntimeError(f"{self.name}: login failed ({r.status_code}):\n{self.log()}")

    def round(self, n: int) -> None:
        assert self.hub.proc is not None
        pid = self.hub.proc.pid
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        for _ in range(n):
            self.login()
        self.cpu += cpu_seconds(pid) - cpu0
        self.wall += time.perf_counter() - wall0
        self.logins += n

    def stop(self) -> None:
        self.hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=60, help="logins per authenticator")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=3, help="logins before measuring")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="login-cost-") as tmp:
        hubs = [
            BenchHub("imagine", Path(tmp) / "imagine"),
            BenchHub("generic", Path(tmp) / "generic"),
        ]
        clients = [
            OIDCClient(h.name, secrets.token_urlsafe(16), [f"{h.url}/hub/oauth_callback"])
            for h in hubs
        ]
        with OIDCProvider(shape="checkin", clients=clients) as op:
            try:
                hubs[0].start(imagine_config(op.issuer, clients[0]))
                hubs[1].start(generic_config(op.issuer, clients[1]))
                for hub in hubs:
                    for _ in range(args.warmup):
                        hub.login()
                per_round = max(1, args.logins // args.rounds)
                for _ in range(args.rounds):
                    for hub in hubs:
                        hub.round(per_round)
            finally:
                for hub in hubs:
                    hub.stop()
    print(f"{'authenticator':<16}{'logins':>8}{'CPU ms/login':>15}{'wall ms/login':>15}")
    for hub in hubs:
        cpu_ms, wall_ms = 1e3 * hub.cpu / hub.logins, 1e3 * hub.wall / hub.logins
        print(f"{hub.name:<16}{hub.logins:>8}{cpu_ms:>15.1f}{wall_ms:>15.1f}")
    ratio = (hubs[0].cpu / hubs[0].logins) / (hubs[1].cpu / hubs[1].logins)
    verdict = "meets" if ratio <= 1.3 else "misses"
    print(f"ratio Imagine/Generic (hub CPU per login): {ratio:.2f} ({verdict} the target <= 1.3)")


if __name__ == "__main__":
    main()
