"""GET share?path= on a real jupyter-server with the extension, over real git repositories: a
bare repository on disk plays the remote; clones get the remote URL a git host would give."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

# the server runs with the FAKE NVML module (tests/serverext/server_proc.py): no GPU here
pytestmark = pytest.mark.fake

P = ("jupyterhub-imagine", "api", "share")
REMOTE = "https://example.org/org/proj.git"
SECRET = "glpat-TOPSECRET123"


def git(*args: str, cwd: Path) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
        "HOME": str(cwd), "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def commit(repo: Path, name: str, text: str) -> str:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)
    git("add", name, cwd=repo)
    git("commit", "-q", "-m", f"add {name}", cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


def pushed_clone(tmp: Path, root: Path, url: str = REMOTE) -> tuple[Path, str]:
    """A clone under ``root`` whose one commit is pushed, with ``url`` as its remote."""
    bare = tmp / "remote.git"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp)
    seed = tmp / "seed"
    git("init", "-q", "-b", "main", str(seed), cwd=tmp)
    head = commit(seed, "nb/analysis.ipynb", "{}\n")
    commit(seed, "README.md", "# proj\n")
    head = git("rev-parse", "HEAD", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    git("clone", "-q", str(bare), str(root / "proj"), cwd=tmp)
    git("remote", "set-url", "origin", url, cwd=root / "proj")
    return root / "proj", head


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {
            "nvml_module": "tests.support.fake_nvml", "mounts_enabled": False,
            "software_enabled": False,
        },
    }


async def share(jp_fetch: Any, path: str | None, **kw: Any) -> tuple[int, dict[str, Any]]:
    params = {} if path is None else {"path": path}
    try:
        response = await jp_fetch(*P, params=params, **kw)
    except HTTPClientError as err:
        assert err.response is not None
        return err.code, json.loads(err.response.body)
    return response.code, json.loads(response.body)


async def test_a_clean_pushed_file_is_shareable(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    repo, head = pushed_clone(tmp_path, jp_root_dir, f"https://oauth2:{SECRET}@example.org/org/proj.git")
    code, body = await share(jp_fetch, "proj/nb/analysis.ipynb")
    assert code == 200, body
    assert body["shareable"] and body["repository"] and body["reason"] == ""
    assert body["remote"] == REMOTE and body["remote_name"] == "origin"
    assert body["commit"] == head == body["pushed_commit"] and body["branch"] == "main"
    assert body["pushed"] and body["unpushed_commits"] == 0
    assert body["uncommitted_changes"] == 0 and not body["file_changed"]
    assert body["file_in_commit"]
    assert body["path_in_repository"] == "nb/analysis.ipynb"
    assert body["repository_path"] == "proj" and body["folder"] == "proj"
    # credentials in the remote are neither answered nor logged
    assert SECRET not in json.dumps(body) and "oauth2" not in json.dumps(body)
    assert SECRET not in caplog.text
    assert git("remote", "get-url", "origin", cwd=repo).count(SECRET) == 1  # untouched


async def test_the_repository_root_and_a_folder_are_shareable_too(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    pushed_clone(tmp_path, jp_root_dir)
    code, body = await share(jp_fetch, "proj")
    assert code == 200 and body["shareable"] and body["path_in_repository"] == ""
    code, body = await share(jp_fetch, "proj/nb")
    assert body["path_in_repository"] == "nb" and body["file_in_commit"]


async def test_an_unpushed_commit_links_the_last_pushed_one(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    repo, pushed = pushed_clone(tmp_path, jp_root_dir)
    local = commit(repo, "nb/new.ipynb", "{}\n")
    code, body = await share(jp_fetch, "proj/nb/new.ipynb")
    assert code == 200 and body["shareable"]
    assert body["commit"] == local and not body["pushed"]
    assert body["pushed_commit"] == pushed and body["unpushed_commits"] == 1
    assert not body["file_in_commit"]  # the new notebook is not in what the link carries
    _, body = await share(jp_fetch, "proj/nb/analysis.ipynb")
    assert body["file_in_commit"]


async def test_uncommitted_changes_are_counted_and_pinned_to_the_file(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    repo, _ = pushed_clone(tmp_path, jp_root_dir)
    (repo / "nb" / "analysis.ipynb").write_text('{"changed": 1}\n')
    (repo / "scratch.txt").write_text("mine\n")
    _, body = await share(jp_fetch, "proj/nb/analysis.ipynb")
    assert body["shareable"] and body["file_changed"]
    assert body["uncommitted_changes"] == 1 and body["untracked_files"] == 1
    _, body = await share(jp_fetch, "proj/README.md")
    assert not body["file_changed"] and body["uncommitted_changes"] == 1


async def test_a_repository_without_a_remote_or_commits_is_not_shareable(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    repo = jp_root_dir / "solo"
    git("init", "-q", "-b", "main", str(repo), cwd=jp_root_dir)
    (repo / "a.py").write_text("x = 1\n")
    _, body = await share(jp_fetch, "solo/a.py")
    assert body["repository"] and not body["shareable"] and body["reason"] == "no-commits"
    commit(repo, "a.py", "x = 2\n")
    _, body = await share(jp_fetch, "solo/a.py")
    assert not body["shareable"] and body["reason"] == "no-remote"
    assert "push it to a git host" in body["message"]


@pytest.mark.parametrize(
    ("remote", "reason", "url"),
    [
        ("git@github.com:org/proj.git", "", "https://github.com/org/proj.git"),
        ("ssh://git@gitlab.com:2222/group/proj.git", "", "https://gitlab.com/group/proj.git"),
        ("git@git.internal.example:org/proj.git", "ssh-remote", ""),
    ],
)
async def test_ssh_remotes_of_public_hosts_become_https(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, remote: str, reason: str, url: str
) -> None:
    pushed_clone(tmp_path, jp_root_dir, remote)
    _, body = await share(jp_fetch, "proj/README.md")
    assert (body["reason"], body["remote"], body["shareable"]) == (reason, url, not reason)


async def test_a_clone_of_a_local_folder_is_not_shareable(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    pushed_clone(tmp_path, jp_root_dir, str(tmp_path / "remote.git"))
    _, body = await share(jp_fetch, "proj/README.md")
    assert body["reason"] == "local-remote" and str(tmp_path) not in body["message"]


async def test_a_file_outside_any_repository(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "notes.md").write_text("hi\n")
    code, body = await share(jp_fetch, "notes.md")
    assert code == 200 and not body["repository"] and body["reason"] == "not-a-repository"


async def test_a_repository_above_the_server_root_is_not_used(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    git("init", "-q", "-b", "main", str(tmp_path), cwd=tmp_path)
    (jp_root_dir / "notes.md").write_text("hi\n")
    _, body = await share(jp_fetch, "notes.md")
    assert not body["repository"] and body["reason"] == "not-a-repository"


@pytest.mark.parametrize(
    ("path", "code", "reason"),
    [
        (None, 400, "invalid-path"),
        ("../outside.txt", 400, "invalid-path"),
        ("proj/../../outside.txt", 400, "invalid-path"),
        ("/etc/passwd", 400, "invalid-path"),
        ("link-out/outside.txt", 403, "outside-root"),
        ("proj/missing.ipynb", 404, "not-found"),
        ("a\x00b", 400, "invalid-field"),
    ],
)
async def test_paths_outside_the_root_or_missing_get_a_clear_4xx(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, path: str | None, code: int, reason: str
) -> None:
    pushed_clone(tmp_path, jp_root_dir)
    (tmp_path / "outside.txt").write_text("secret\n")
    (jp_root_dir / "link-out").symlink_to(tmp_path)
    got, body = await share(jp_fetch, path)
    assert (got, body["reason"]) == (code, reason), body
    assert "secret" not in json.dumps(body)


async def test_anonymous_requests_are_refused(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "notes.md").write_text("hi\n")
    code, _ = await share(jp_fetch, "notes.md", headers={"Authorization": ""})
    assert code == 403


def hostile_repo(repo: Path, marker: Path) -> None:
    """Config that makes a plain ``git status`` run commands: fsmonitor, a clean filter and a
    process filter on a file whose stat data no longer matches the index (an index hook is
    configured too, for git versions whose status writes the index)."""
    run = f"touch {marker}"
    git("config", "core.fsmonitor", f"{run}.fsmonitor; false", cwd=repo)
    git("config", "filter.evil.clean", f"{run}.clean; cat", cwd=repo)
    git("config", "filter.evil.process", f"{run}.process", cwd=repo)
    hooks = marker.parent / "hooks"
    hooks.mkdir()
    (hooks / "post-index-change").write_text(f"#!/bin/sh\n{run}.hook\n")
    (hooks / "post-index-change").chmod(0o755)
    git("config", "core.hooksPath", str(hooks), cwd=repo)
    (repo / ".git" / "info" / "attributes").write_text("* filter=evil\n")
    (repo / "README.md").write_text("# changed\n")
    subprocess.run(["touch", "-d", "2001-01-01", str(repo / "README.md")], check=True)


async def test_a_hostile_repository_config_runs_nothing(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    repo, _ = pushed_clone(tmp_path, jp_root_dir)
    marker = tmp_path / "RAN"
    hostile_repo(repo, marker)
    code, body = await share(jp_fetch, "proj/README.md")
    assert code == 200 and body["shareable"] and body["file_changed"]
    ran = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("RAN"))
    assert ran == []
    # the same repository does run them for a plain git status: the test can fail
    subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, check=False)
    ran = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("RAN"))
    assert ran, "the hostile config did not trigger git at all"
