"""The admin's settings of launch links (``c.ImagineLinks.*``)."""

from __future__ import annotations

from traitlets import Bool, Float, List, Unicode
from traitlets.config import Configurable

from .spec import RepoPolicy


class ImagineLinks(Configurable):
    """Which repositories launch links may pull, and how refs are checked."""

    enabled = Bool(
        True,
        config=True,
        help="""Serve the launch-link pages when ``wire_links(c)`` runs (the Helm chart always
        calls it). False: ``wire_links`` adds nothing and links answer 404.""",
    )
    allowed_hosts = List(
        Unicode(),
        config=True,
        help="""Hosts whose git repositories links may pull, e.g. `["github.com", "gitlab.com",
        "*.example.org"]` (`*.` matches subdomains). Empty (the default): any host over https.
        Whatever this says, `file:`, `ssh:`, `git@`, plain `http:` and URLs with credentials are
        refused.""",
    )
    http_hosts = List(
        Unicode(),
        config=True,
        help="""Hosts reachable over plain http (a git server on loopback or an internal
        network, e.g. `["127.0.0.1"]`); links to them are also allowed. Empty by default.""",
    )
    check_refs = Bool(
        True,
        config=True,
        help="""Ask the repository (`git ls-remote`, from the hub) whether the link's branch,
        tag or commit exists before showing the confirmation page, and which branch to pull for
        a commit. Needs git on the hub's PATH: ``wire_links`` stops the hub with a
        LinksConfigError when it is missing. Turn off where the hub cannot reach the content
        hosts or has no git (nbgitpuller then reports a missing ref in the user's server).""",
    )
    ls_remote_timeout = Float(
        15.0,
        config=True,
        help="Seconds to wait for a repository to answer `git ls-remote`.",
    )

    def policy(self) -> RepoPolicy:
        return RepoPolicy(tuple(self.allowed_hosts), tuple(self.http_hosts))
