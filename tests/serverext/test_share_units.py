"""The pure parts of the share endpoint: remotes as shareable URLs, git status parsing."""

from __future__ import annotations

import pytest

from jupyterhub_imagine.serverext.gitshare.probe import choose_remote, parse_status
from jupyterhub_imagine.serverext.gitshare.remotes import share_remote


@pytest.mark.parametrize(
    ("raw", "url", "reason"),
    [
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git", ""),
        ("https://user:tok@gitlab.example.org:8443/g/p", "https://gitlab.example.org:8443/g/p", ""),
        ("https://tok@host.example/p?x=1#f", "https://host.example/p", ""),
        ("http://127.0.0.1:9000/sample.git", "http://127.0.0.1:9000/sample.git", ""),
        ("git@github.com:org/repo.git", "https://github.com/org/repo.git", ""),
        ("github.com:org/repo", "https://github.com/org/repo", ""),
        ("ssh://git@GitHub.com/org/repo.git", "https://github.com/org/repo.git", ""),
        ("git://codeberg.org/org/repo.git", "https://codeberg.org/org/repo.git", ""),
        ("git@git.corp.example:org/repo.git", "", "ssh-remote"),
        ("ssh://tok@corp.example/repo", "", "ssh-remote"),
        ("/srv/git/repo.git", "", "local-remote"),
        ("../repo.git", "", "local-remote"),
        ("file:///srv/git/repo.git", "", "local-remote"),
        ("ext::sh -c touch% /tmp/x", "", "unsupported-remote"),
        ("fd::17", "", "unsupported-remote"),
        ("ftp://host.example/repo", "", "unsupported-remote"),
        ("https://host.example/", "", "unsupported-remote"),
        ("", "", "no-remote"),
    ],
)
def test_remotes_become_credential_free_https_or_say_why_not(
    raw: str, url: str, reason: str
) -> None:
    got = share_remote(raw)
    assert (got.url, got.reason) == (url, reason)
    assert "tok" not in got.message and (got.message != "") == bool(reason)


def test_status_counts_changes_untracked_files_and_the_path() -> None:
    text = " M nb/a.ipynb\0R  new.md\0old.md\0?? scratch.txt\0A  nb/sub/b.py\0"
    assert parse_status(text, "nb/a.ipynb") == (3, 1, True)
    assert parse_status(text, "nb") == (3, 1, True)
    assert parse_status(text, "old.md") == (3, 1, False)  # a rename's source is not an entry
    assert parse_status(text, "n") == (3, 1, False)
    assert parse_status("", "") == (0, 0, False)


def test_the_upstream_remote_wins_then_origin() -> None:
    assert choose_remote(["fork", "origin"], "fork") == "fork"
    assert choose_remote(["fork", "origin"], "") == "origin"
    assert choose_remote(["zeta", "alpha"], "") == "alpha"
    assert choose_remote([], "") == ""


def test_the_labextension_reads_the_fields_the_server_answers() -> None:
    """IShareInfo in labextension/src/shareGit.ts names exactly ShareInfo's JSON fields."""
    import re
    from pathlib import Path

    from jupyterhub_imagine.serverext.gitshare.probe import ShareInfo

    source = (Path(__file__).resolve().parents[2] / "labextension/src/shareGit.ts").read_text()
    body = re.search(r"export interface IShareInfo \{(.*?)\n\}", source, re.S)
    assert body, "IShareInfo is missing from shareGit.ts"
    ts_fields = set(re.findall(r"^\s+(\w+): ", body.group(1), re.M))
    assert ts_fields == set(ShareInfo(path="x").to_json())
