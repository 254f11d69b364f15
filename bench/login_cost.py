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
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyterhub_imagine.demo.oidc import DEMO_DIR, OIDCClient, OIDCProvider  # noqa: E402
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
c.ImagineOAuthenticator.allowed_groups = [{VO!r}]
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
    name: str
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    cpu: float = 0.0
    wall: float = 0.0
    logins: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, auth_config: str) -> None:
        self.workdir.mkdir(parents=True)
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(
            f"""
c.JupyterHub.bind_url = {self.url!r}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.JupyterHub.db_url = "sqlite:///{self.workdir / "hub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(self.workdir / "cookie_secret")!r}
c.JupyterHub.log_level = "WARN"
c.Authenticator.oauth_callback_url = "{self.url}/hub/oauth_callback"
{auth_config}"""
        )
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join(
            [str(DEMO_DIR / "node_modules" / ".bin"), str(Path(sys.executable).parent), env["PATH"]]
        )
        env["JUPYTERHUB_CRYPT_KEY"] = secrets.token_hex(32)
        log = open(self.workdir / "hub.log", "wb")  # noqa: SIM115 - the hub keeps it
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(config)],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} hub exited:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/hub/api", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} hub did not start:\n{self.log()}")

    def log(self) -> str:
        return (self.workdir / "hub.log").read_text(errors="replace")[-3000:]

    def login(self) -> None:
        r = scripted_login(requests.Session(), self.url, "alice", "alice")
        if r.status_code != 302:
            raise RuntimeError(f"{self.name}: login failed ({r.status_code}):\n{self.log()}")

    def round(self, n: int) -> None:
        assert self.proc is not None
        cpu0, wall0 = cpu_seconds(self.proc.pid), time.perf_counter()
        for _ in range(n):
            self.login()
        self.cpu += cpu_seconds(self.proc.pid) - cpu0
        self.wall += time.perf_counter() - wall0
        self.logins += n

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


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
