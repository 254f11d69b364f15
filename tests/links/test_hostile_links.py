"""A table of hostile or broken launch links against a real JupyterHub: each gets a clear page
with a 4xx status (never a 5xx), on GET and on a POST carrying a valid XSRF token, and no server
ever starts. The hub, the proxy and the git server are real; NVML is the FAKE module."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .test_links_hub import GPU, hub, launch, repo, server_of  # noqa: F401  (fixtures)

REFUSED = "This link cannot be opened"
LONG = "a" * 5000


def enc(text: str) -> str:
    return quote(text, safe="")


# (name, path after /hub/imagine/, query) — "{repo}" is the real git server's repository URL
HOSTILE: list[tuple[str, str, dict[str, str]]] = [
    ("unknown profile", "launch", {"profile": "no-such-profile"}),
    ("unentitled gpu profile", "launch", {"profile": GPU}),
    ("profile traversal", "launch", {"profile": "../../etc"}),
    ("opt-profile unentitled", "launch", {"opt-profile": GPU}),
    ("option the profile lacks", "launch", {"profile": "cpu", "opt-image": "evil"}),
    ("option name junk", "launch", {"opt-<script>": "x"}),
    ("javascript repo", "launch", {"repo": "javascript:alert(1)"}),
    ("file repo", "launch", {"repo": "file:///etc/passwd"}),
    ("ssh repo", "launch", {"repo": "ssh://git@github.com/x/y"}),
    ("scp-like repo", "launch", {"repo": "git@github.com:x/y.git"}),
    ("credentialed repo", "launch", {"repo": "https://user:pw@github.com/x/y"}),
    ("token repo", "launch", {"repo": "https://ghp_token@github.com/x/y"}),
    ("plain http repo", "launch", {"repo": "http://example.org/x.git"}),
    ("ext transport", "launch", {"repo": "ext::sh -c touch% /tmp/pwned"}),
    ("argument injection repo", "launch", {"repo": "--upload-pack=touch /tmp/x"}),
    ("repo path traversal", "launch", {"repo": "https://github.com/../../etc"}),
    ("oversized repo", "launch", {"repo": "https://github.com/" + LONG}),
    ("repo twice", "launch", {"repo": "{repo}", "repo ": "x"}),
    ("ref that does not exist", "launch", {"repo": "{repo}", "ref": "no-such-branch"}),
    ("short commit that is no ref", "launch", {"repo": "{repo}", "ref": "abc1234"}),
    ("ref argument injection", "launch", {"repo": "{repo}", "ref": "--upload-pack=touch"}),
    ("ref with ..", "launch", {"repo": "{repo}", "ref": "main/../x"}),
    ("oversized ref", "launch", {"repo": "{repo}", "ref": LONG[:300]}),
    ("ref without repo", "launch", {"ref": "main"}),
    ("urlpath absolute url", "launch", {"urlpath": "https://evil.example/"}),
    ("urlpath scheme-relative", "launch", {"urlpath": "//evil.example/x"}),
    ("urlpath backslash", "launch", {"urlpath": "/\\evil.example"}),
    ("urlpath javascript", "launch", {"urlpath": "javascript:alert(1)"}),
    ("urlpath traversal", "launch", {"urlpath": "../../hub/admin"}),
    ("urlpath encoded traversal", "launch", {"urlpath": "lab/tree/%2e%2e/%2e%2e/etc"}),
    ("urlpath inner traversal", "launch", {"urlpath": "lab/../../hub/token"}),
    ("urlpath control chars", "launch", {"urlpath": "lab\r\nSet-Cookie: x=1"}),
    ("oversized urlpath", "launch", {"urlpath": LONG}),
    ("labpath traversal", "launch", {"repo": "{repo}", "labpath": "../../etc/passwd"}),
    ("filepath encoded traversal", "launch", {"repo": "{repo}", "filepath": "..%2f..%2fetc"}),
    ("two paths", "launch", {"repo": "{repo}", "urlpath": "lab", "labpath": "a.ipynb"}),
    ("oversized query", "launch", {f"x{i}": "y" * 200 for i in range(30)}),
    ("v2 unknown provider", "v2/xx/org/repo/main", {}),
    ("v2 gh too short", "v2/gh/org", {}),
    ("v2 gh traversal", "v2/gh/org/" + enc("../..") + "/main", {}),
    ("v2 gh encoded slash", "v2/gh/org/" + enc("re/../po") + "/main", {}),
    ("v2 git file url", "v2/git/" + enc("file:///etc") + "/main", {}),
    ("v2 git credentials", "v2/git/" + enc("https://u:p@github.com/x/y") + "/main", {}),
    ("v2 gl one segment", "v2/gl/justone/main", {}),
    ("v2 git missing ref", "v2/git/" + enc("{repo}") + "/no-such-branch", {}),
    ("v2 urlpath open redirect", "v2/git/" + enc("{repo}") + "/main", {"urlpath": "//evil"}),
    ("v2 labpath traversal", "v2/git/" + enc("{repo}") + "/main", {"labpath": "../../x"}),
]


def url_of(hub, repo, path: str, query: dict[str, str]) -> str:  # noqa: F811
    from urllib.parse import urlencode

    path = path.replace(enc("{repo}"), enc(repo.url))
    query = {k.strip(): v.replace("{repo}", repo.url) for k, v in query.items()}
    text = urlencode(query)
    return f"{hub.url}/hub/imagine/{path}" + (f"?{text}" if text else "")


@pytest.fixture(scope="module")
def bob(hub):  # noqa: F811
    session = hub.login("bob")
    session.get(f"{hub.url}/hub/home", timeout=30)
    return session


def test_the_table_is_big_enough():
    assert len(HOSTILE) >= 30


@pytest.mark.fake
@pytest.mark.parametrize(("name", "path", "query"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_link_gets_a_clear_refusal_and_starts_nothing(hub, repo, bob, name, path, query):  # noqa: F811
    url = url_of(hub, repo, path, query)
    if name == "repo twice":
        url += "&repo=" + enc(repo.url)
    r = bob.get(url, timeout=60, allow_redirects=False)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:1500])
    assert REFUSED in r.text
    token = bob.cookies.get("_xsrf")
    assert token
    r = bob.post(url, data={"_xsrf": token, "action": "start"}, timeout=60,
                 allow_redirects=False)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:1500])
    assert REFUSED in r.text
    assert not server_of(hub, "bob")
    assert hub.alive()


@pytest.mark.fake
def test_unentitled_profile_shows_the_profiles_the_user_may_use(hub, repo, bob):  # noqa: F811
    r = bob.get(launch(hub, profile=GPU, repo=repo.url), timeout=60)
    assert r.status_code == 403
    assert "needs gpu" in r.text
    assert 'id="link-profiles"' in r.text and "profile=cpu" in r.text
    assert GPU not in r.text.split('id="link-profiles"')[1]


@pytest.mark.fake
def test_cross_site_post_without_the_token_starts_nothing(hub, repo, bob):  # noqa: F811
    link = launch(hub, profile="cpu", repo=repo.url)
    r = bob.post(link, data={"action": "start"}, timeout=60, allow_redirects=False)
    assert r.status_code == 403, r.text[:500]
    r = bob.post(link, data={"action": "start", "_xsrf": "forged"}, timeout=60,
                 allow_redirects=False)
    assert r.status_code == 403
    assert not server_of(hub, "bob")


@pytest.mark.fake
def test_a_commit_that_is_no_branch_tip_is_confirmed_only_with_a_warning(hub, repo, bob):  # noqa: F811
    # ls-remote sees branch and tag tips only: an older (or unknown) commit cannot be pinned by
    # nbgitpuller, and the page says which branch the user gets instead.
    r = bob.get(launch(hub, profile="cpu", repo=repo.url, ref="f" * 40), timeout=60)
    assert r.status_code == 200
    assert 'id="link-note"' in r.text and "no longer the tip of a branch" in r.text
    assert not server_of(hub, "bob")


@pytest.mark.fake
def test_the_hub_logged_no_server_error(hub):  # noqa: F811  (runs after the table)
    log = hub.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert not [line for line in log.splitlines() if " 500 " in line or "Uncaught" in line]
