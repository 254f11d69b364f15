"""Bad input to the gpu, mounts and software APIs: every case a 4xx JSON answer, never a 5xx."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.serverext import cvmfs_tree
from tests.serverext.bad_input_cases import S3, WEBDAV

P = ("jupyterhub-imagine", "api")
STACK = cvmfs_tree.EESSI_STACK


def webdav(**change: Any) -> str:
    return json.dumps({**WEBDAV, **change})


def s3(**change: Any) -> str:
    return json.dumps({**S3, **change})


def kernel(**fields: Any) -> str:
    return json.dumps({"kind": "stack", "id": STACK, **fields})


# (case id, method, path under the API, query, body, expected status or None for "any 4xx")
CASES: list[tuple[str, str, str, dict[str, Any], str | None, int | None]] = [
    # gpu and culling
    ("gpu-post", "POST", "gpu", {}, "{}", 405),
    ("gpu-delete", "DELETE", "gpu", {}, None, 405),
    ("status-put", "PUT", "status", {}, "{}", 405),
    ("presence-not-json", "POST", "presence", {}, "{nope", 400),
    ("presence-unknown-kind", "POST", "presence", {}, '{"kind": "typing"}', 400),
    ("warning-from-a-user", "PUT", "warning", {}, '{"postponements_left": 1}', 403),
    ("keep-without-warning", "POST", "warning/keep", {}, "{}", 409),
    # mounts: body shape
    ("mount-not-json", "POST", "mounts", {}, "name=x", 400),
    ("mount-json-array", "POST", "mounts", {}, "[1, 2]", 400),
    ("mount-empty-object", "POST", "mounts", {}, "{}", 400),
    ("mount-unknown-backend", "POST", "mounts", {}, webdav(backend="ftp"), 400),
    ("mount-unknown-field", "POST", "mounts", {}, webdav(command="rm -rf ~"), 400),
    ("mount-oversized", "POST", "mounts", {}, webdav(user="a" * 70000), 413),
    # mounts: names and paths
    ("name-traversal", "POST", "mounts", {}, webdav(name="../etc"), 400),
    ("name-slash", "POST", "mounts", {}, webdav(name="a/b"), 400),
    ("name-empty", "POST", "mounts", {}, webdav(name=""), 400),
    ("name-shell", "POST", "mounts", {}, webdav(name="x;rm -rf ~"), 400),
    ("name-subst", "POST", "mounts", {}, webdav(name="$(reboot)"), 400),
    ("name-nul", "POST", "mounts", {}, webdav(name="a\x00b"), 400),
    ("name-long", "POST", "mounts", {}, webdav(name="n" * 200), 400),
    ("name-dot", "POST", "mounts", {}, webdav(name=".hidden"), 400),
    ("name-number", "POST", "mounts", {}, webdav(name=42), 400),
    ("subpath-traversal", "POST", "mounts", {}, webdav(path="../../etc"), 400),
    ("subpath-absolute", "POST", "mounts", {}, webdav(path="/etc"), 400),
    # mounts: URLs, auth, secrets
    ("url-file", "POST", "mounts", {}, webdav(url="file:///etc/passwd"), 400),
    ("url-plain-http", "POST", "mounts", {}, webdav(url="http://dav.example.org/"), 400),
    ("url-credentials", "POST", "mounts", {}, webdav(url="https://u:p@dav.example.org/"), 400),
    ("url-garbage", "POST", "mounts", {}, webdav(url="not a url"), 400),
    ("url-newline", "POST", "mounts", {}, webdav(url="https://h.org/\nX: y"), 400),
    ("url-bad-port", "POST", "mounts", {}, webdav(url="https://h.org:99999/"), 400),
    ("preset-unknown", "POST", "mounts", {}, webdav(preset="dropbox"), 400),
    ("auth-unknown", "POST", "mounts", {}, webdav(auth="kerberos"), 400),
    ("password-missing", "POST", "mounts", {}, webdav(password=None), 400),
    ("password-number", "POST", "mounts", {}, webdav(password=123), 400),
    ("password-newline", "POST", "mounts", {}, webdav(password="a\nb"), 400),
    ("read-only-string", "POST", "mounts", {}, webdav(read_only="yes"), 400),
    ("b2drop-other-url", "POST", "mounts", {}, webdav(preset="b2drop", url="https://x.org/"), 400),
    ("s3-bucket-traversal", "POST", "mounts", {}, s3(bucket="../x"), 400),
    ("s3-no-secret", "POST", "mounts", {}, s3(secret_access_key=None), 400),
    ("s3-endpoint-ftp", "POST", "mounts", {}, s3(endpoint="ftp://s3.example.org"), 400),
    ("s3-region-shell", "POST", "mounts", {}, s3(region="eu;reboot"), 400),
    (
        "onedata-host-shell",
        "POST",
        "mounts",
        {},
        json.dumps({"name": "od", "backend": "onedata", "host": "h;reboot", "token": "t"}),
        400,
    ),
    # mounts: unknown targets and methods
    ("mount-missing", "GET", "mounts/nothere", {}, None, 404),
    ("mount-missing-delete", "DELETE", "mounts/nothere", {}, None, 404),
    ("mount-encoded-traversal", "GET", "mounts/..%2F..%2Fetc", {}, None, None),
    ("mount-bad-name-action", "POST", "mounts/a;b/remount", {}, "{}", 400),
    ("mount-unknown-action", "POST", "mounts/nothere/explode", {}, "{}", 404),
    ("mounts-put", "PUT", "mounts", {}, "{}", 405),
    # software: browsing
    ("browse-traversal", "GET", "software/browse", {"path": "../.."}, None, 400),
    ("browse-absolute", "GET", "software/browse", {"path": "/etc"}, None, 400),
    ("browse-symlink-escape", "GET", "software/browse", {"path": "escape"}, None, 400),
    ("browse-missing", "GET", "software/browse", {"path": "nothere"}, None, 404),
    ("browse-file", "GET", "software/browse", {"path": cvmfs_tree.IMAGE}, None, 400),
    ("browse-bad-cursor", "GET", "software/browse", {"cursor": "garbage"}, None, 400),
    ("browse-limit-zero", "GET", "software/browse", {"limit": "0"}, None, 400),
    ("browse-limit-text", "GET", "software/browse", {"limit": "abc"}, None, 400),
    ("browse-limit-huge", "GET", "software/browse", {"limit": "100000"}, None, 400),
    ("browse-kind", "GET", "software/browse", {"kind": "exe"}, None, 400),
    ("browse-backslash", "GET", "software/browse", {"path": "a\\..\\b"}, None, 400),
    # software: modules
    ("modules-traversal", "GET", "software/modules", {"stack": "../../etc"}, None, 400),
    ("modules-not-a-stack", "GET", "software/modules", {"stack": "sft.cern.ch"}, None, 404),
    ("modules-offset", "GET", "software/modules", {"offset": "-1"}, None, 400),
    # software: kernels
    ("kernel-empty", "POST", "software/kernels", {}, "{}", 400),
    ("kernel-kind", "POST", "software/kernels", {}, kernel(kind="shell"), 400),
    ("kernel-stack-traversal", "POST", "software/kernels", {}, kernel(id="../../../bin"), 400),
    ("kernel-stack-absolute", "POST", "software/kernels", {}, kernel(id="/usr"), 400),
    ("kernel-module-shell", "POST", "software/kernels", {}, kernel(modules=["G; rm -rf /"]), 400),
    ("kernel-module-subst", "POST", "software/kernels", {}, kernel(modules=["$(id)"]), 400),
    ("kernel-module-option", "POST", "software/kernels", {}, kernel(modules=["--force"]), 400),
    ("kernel-modules-string", "POST", "software/kernels", {}, kernel(modules="GCC"), 400),
    ("kernel-display-newline", "POST", "software/kernels", {}, kernel(display_name="a\nb"), 400),
    ("kernel-unknown-field", "POST", "software/kernels", {}, kernel(argv=["sh"]), 400),
    (
        "kernel-image-not-sif",
        "POST",
        "software/kernels",
        {},
        json.dumps({"kind": "image", "id": "unpacked.cern.ch/images/notes.txt"}),
        404,
    ),
    ("kernel-module-no-names", "POST", "software/kernels", {}, '{"kind": "module"}', 400),
    ("kernel-oversized", "POST", "software/kernels", {}, kernel(display_name="x" * 70000), 413),
    ("kernel-delete-foreign", "DELETE", "software/kernels/python3", {}, None, 400),
    ("kernel-delete-missing", "DELETE", "software/kernels/imagine-nothere", {}, None, 404),
]


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    root = cvmfs_tree.build(tmp_path / "cvmfs")
    os.symlink("/etc", root / "escape")
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {"nvml_module": "tests.support.fake_nvml"},
        "ImagineMountManager": {"root": str(tmp_path / "data")},
        "ImagineSoftwareCatalog": {"root": str(root), "lmod_init": ""},
    }


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.fake
async def test_bad_input_gets_a_4xx_with_a_message(jp_fetch: Any) -> None:
    failures = []
    for case, method, path, query, body, expected in CASES:
        try:
            response = await jp_fetch(
                *P,
                *path.split("/"),
                method=method,
                params=query,
                body=body,
                allow_nonstandard_methods=True,
            )
            failures.append(f"{case}: accepted with {response.code}")
            continue
        except HTTPClientError as err:
            code, raw = err.code, err.response.body if err.response else b""
        try:
            message = json.loads(raw).get("message", "")
        except ValueError:
            message = ""
        if not 400 <= code < 500 or (expected is not None and code != expected):
            failures.append(f"{case}: {code} (expected {expected or '4xx'}) {message}")
        elif not message or "%s" in message:
            failures.append(f"{case}: {code} without a useful message: {raw[:200]!r}")
    assert failures == []
