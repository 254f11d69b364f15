"""The pure parts of launch links: parsing both shapes, BinderHub's path mapping, ref resolution."""

from __future__ import annotations

import pytest

from jupyterhub_imagine.links import remote
from jupyterhub_imagine.links.spec import LinkError, RepoPolicy, parse_launch, parse_v2

ANY = RepoPolicy()


def q(**kw: str) -> dict[str, list[str]]:
    return {k.replace("_", "-"): [v] for k, v in kw.items()}


def test_our_shape_with_labpath_opens_the_file_in_the_pulled_folder():
    req = parse_launch(q(profile="gpu", repo="https://github.com/org/demo.git", ref="v1",
                         labpath="nb/a.ipynb", opt_image="torch"), ANY)
    assert (req.profile, req.ref, req.target) == ("gpu", "v1", "demo")
    assert req.urlpath == "lab/tree/demo/nb/a.ipynb"
    assert req.options == {"image": "torch"}


def test_our_shape_urlpath_is_relative_to_the_server_and_defaults_to_the_folder():
    assert parse_launch(q(urlpath="/lab/tree/x.ipynb"), ANY).urlpath == "lab/tree/x.ipynb"
    assert parse_launch(q(repo="https://h.org/g/r"), ANY).urlpath == "lab/tree/r"
    assert parse_launch({}, ANY).urlpath == "lab"


@pytest.mark.parametrize(
    ("path", "query", "repo", "ref", "urlpath"),
    [
        ("gh/org/repo/main", {}, "https://github.com/org/repo", "main", "lab/tree/repo"),
        ("gh/org/repo.git/HEAD", {"labpath": "a.ipynb"}, "https://github.com/org/repo", "",
         "lab/tree/repo/a.ipynb"),
        ("gh/org/repo/feature/x", {"filepath": "b.py"}, "https://github.com/org/repo",
         "feature/x", "lab/tree/repo/b.py"),
        ("gl/group%2Fsub%2Fproj/v2", {"urlpath": "lab/tree/c.ipynb"},
         "https://gitlab.com/group/sub/proj", "v2", "lab/tree/proj/c.ipynb"),
        ("git/https%3A%2F%2Fgit.example.org%2Fa%2Fb.git/main", {"urlpath": "voila/render/d"},
         "https://git.example.org/a/b.git", "main", "voila/render/b/d"),
        ("git/https%3A%2F%2Fgit.example.org%2Fa%2Fb/main", {"urlpath": "rstudio"},
         "https://git.example.org/a/b", "main", "rstudio"),
    ],
)
def test_binder_links_map_as_binderhub_does(path, query, repo, ref, urlpath):
    req = parse_v2(path, {k: [v] for k, v in query.items()}, ANY)
    assert (req.repo, req.ref, req.urlpath) == (repo, ref, urlpath)


def test_the_allow_list_limits_hosts_and_http_needs_naming():
    policy = RepoPolicy(allowed_hosts=("github.com", "*.example.org"), http_hosts=("127.0.0.1",))
    assert parse_launch(q(repo="https://git.example.org/a/b"), policy).repo
    assert parse_launch(q(repo="http://127.0.0.1:9/a.git"), policy).repo
    with pytest.raises(LinkError, match="not allowed here"):
        parse_launch(q(repo="https://gitlab.com/a/b"), policy)
    with pytest.raises(LinkError, match="must use https"):
        parse_launch(q(repo="http://github.com/a/b"), policy)


LS = "ref: refs/heads/main\tHEAD\n" + "\n".join(
    f"{sha}\t{name}" for sha, name in [
        ("a" * 40, "HEAD"), ("a" * 40, "refs/heads/main"), ("b" * 40, "refs/heads/dev"),
        ("c" * 40, "refs/tags/v1"), ("d" * 40, "refs/tags/v1^{}"),
    ]
)


@pytest.mark.parametrize(
    ("ref", "branch", "commit", "noted"),
    [("", "main", "a" * 40, False), ("dev", "dev", "b" * 40, False),
     ("v1", "v1", "d" * 40, False), ("b" * 40, "dev", "b" * 40, False),
     ("e" * 40, "main", "a" * 40, True)],
)
def test_refs_resolve_to_the_branch_nbgitpuller_pulls(ref, branch, commit, noted):
    resolved = remote.resolve(ref, *remote.parse_ls_remote(LS))
    assert (resolved.branch, resolved.commit, bool(resolved.note)) == (branch, commit, noted)


def test_a_ref_the_repository_lacks_is_refused():
    with pytest.raises(LinkError, match="no branch, tag or commit named 'nope'"):
        remote.resolve("nope", *remote.parse_ls_remote(LS))
