"""Hostile and malformed requests for every route of the extension, generated from classes.

Each :class:`Case` must be refused with a 4xx JSON answer carrying a ``message``; ``expected``
pins the exact status where one is right. The classes: body shapes (deep nesting, wrong JSON
types, oversize, invalid UTF-8, NaN), wrong field types, control characters (a trailing newline
included), traversal, option injection, URLs (schemes, credentials, plain http, long host names),
query arguments, route names, unknown routes and wrong methods.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.serverext import cvmfs_tree

LIVE = "live"  # a real mount (rclone over FUSE to a local WebDAV server) the fixture makes
FULL = "full"  # a folder under the data root that holds a file


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    route: str
    body: bytes | None = None
    query: tuple[tuple[str, str], ...] = ()
    expected: int | None = None  # None: any 4xx
    culler: bool = False


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


WEBDAV = {
    "name": "ok",
    "backend": "webdav",
    "url": "https://dav.example.org/",
    "user": "alice",
    "password": "x",
}
S3 = {
    "name": "ok",
    "backend": "s3",
    "endpoint": "https://s3.example.org",
    "bucket": "data",
    "access_key_id": "AK",
    "secret_access_key": "SK",
}
ONEDATA = {"name": "ok", "backend": "onedata", "host": "datahub.example.org", "token": "t"}
BASES = {"webdav": WEBDAV, "s3": S3, "onedata": ONEDATA}
KERNEL = {"kind": "stack", "id": cvmfs_tree.EESSI_STACK}
WARNING = {
    "issued_at": 1000.0,
    "stop_at": 2000.0,
    "reason": "idle",
    "postponements_left": 1,
    "postpone_by": 600.0,
}

# ---- value classes ---------------------------------------------------------------------------

WRONG_TYPES: dict[str, Any] = {
    "int": 42,
    "float": 1.5,
    "true": True,
    "list": ["a"],
    "object": {"a": 1},
    "empty-list": [],
}
CONTROL = {
    "trailing-newline": "a\n",
    "leading-newline": "\na",
    "cr": "a\rb",
    "nul": "a\x00b",
    "tab": "a\tb",
    "del": "a\x7f",
    "c1-nel": "a\x85",
    "line-separator": "a\u2028b",
    "escape": "a\x1b[31m",
}
NAME_BAD = {
    "traversal": "../etc",
    "dotdot": "..",
    "dot": ".",
    "slash": "a/b",
    "backslash": "a\\b",
    "empty": "",
    "space": "a b",
    "shell": "x;rm -rf ~",
    "subst": "$(reboot)",
    "option": "-rf",
    "long": "n" * 64,
    "hidden": ".hidden",
    "unicode": "ｄａｔａ",
    "percent": "a%2Fb",
    "glob": "a*",
}
PATH_BAD = {
    "traversal": "../../etc",
    "middle-traversal": "a/../../b",
    "absolute": "/etc",
    "backslash": "a\\..\\b",
    "dot": "./a",
    "double-slash": "a//b",
    "long": "a/" * 600,
}
HOST_LONG = ".".join(["a" * 63] * 4) + ".org"  # 259 characters
LABEL_LONG = "a" * 64 + ".example.org"
URL_BAD = {
    "file": "file:///etc/passwd",
    "ftp": "ftp://dav.example.org/",
    "javascript": "javascript:alert(1)",
    "no-scheme": "dav.example.org/x",
    "plain-http": "http://dav.example.org/",
    "http-loopback-not-listed": "http://localhost:8080/",
    "http-other-ip": "http://10.0.0.1/",
    "credentials": "https://u:p@dav.example.org/",
    "user-only": "https://u@dav.example.org/",
    "garbage": "not a url",
    "space": "https://dav.example.org/a b",
    "newline-header": "https://h.org/\nX: y",
    "trailing-newline": "https://dav.example.org/\n",
    "bad-port": "https://h.org:99999/",
    "text-port": "https://h.org:http/",
    "host-too-long": f"https://{HOST_LONG}/",
    "label-too-long": f"https://{LABEL_LONG}/",
    "label-dash": "https://-bad.example.org/",
    "underscore-host": "https://a_b.example.org/",
    "empty-host": "https:///path",
    "unicode-host": "https://ｅｘａｍｐｌｅ.org/",
    "oversize": "https://dav.example.org/" + "a" * 3000,
    "nul": "https://dav.example.org/\x00",
}
HOST_BAD = {
    "shell": "h;reboot",
    "too-long": HOST_LONG,
    "label-too-long": LABEL_LONG,
    "empty-label": "a..b",
    "dash-start": "-a.org",
    "dash-end": "a-.org",
    "port-zero": "a.org:0",
    "port-big": "a.org:70000",
    "port-text": "a.org:ssh",
    "space": "a .org",
    "newline-at-end": "a.org\n",
    "slash": "a.org/x",
    "option": "--help",
    "unicode": "ｅｘａｍｐｌｅ.org",
    "at": "u@a.org",
}

# ---- body shape classes ----------------------------------------------------------------------

BODY_SHAPES: dict[str, tuple[bytes, int | None]] = {
    "deep-array": (b"[" * 100_000 + b"]" * 100_000, None),
    "deep-object": (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, None),
    "deep-unclosed": (b"[" * 50_000, None),
    "just-too-deep": (b'{"a":' * 17 + b"1" + b"}" * 17, 400),
    "deep-in-field": (b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}", None),
    "not-json": (b"{nope", 400),
    "form": (b"name=x&backend=webdav", 400),
    "array": (b"[1, 2]", 400),
    "string": (b'"text"', 400),
    "number": (b"42", 400),
    "null": (b"null", 400),
    "true": (b"true", 400),
    "nan": (b'{"name": NaN}', 400),
    "infinity": (b'{"name": Infinity}', 400),
    "huge-int": (b'{"name": ' + b"9" * 5000 + b"}", 400),
    "bad-utf8": (b'{"name": "\xff\xfe"}', 400),
    "oversize": (b'{"name": "' + b"a" * 70_000 + b'"}', 413),
    "trailing-garbage": (b'{"name": "a"} x', 400),
}


def _body_cases() -> list[Case]:
    routes = [
        ("mounts", "POST", "mounts", False),
        ("remount", "POST", f"mounts/{LIVE}/remount", False),
        ("kernels", "POST", "software/kernels", False),
        ("presence", "POST", "presence", False),
        ("warning", "PUT", "warning", True),
    ]
    cases = []
    for label, method, route, culler in routes:
        for shape, (body, expected) in BODY_SHAPES.items():
            if route in ("presence", "warning") and len(body) > 4096:
                expected = 413
            cases.append(Case(f"body-{label}-{shape}", method, route, body, (), expected, culler))
        if route in ("presence", "warning"):
            # the culler's routes take small bodies only
            big = _json({"kind": "k" * 5000, "reason": "r"})
            cases.append(Case(f"body-{label}-over-4k", method, route, big, (), 413, culler))
    return cases


def _mount_field_cases() -> list[Case]:
    cases = []
    string_fields = {
        "webdav": ["name", "url", "user", "password", "path", "preset", "auth", "backend"],
        "s3": ["name", "endpoint", "bucket", "region", "access_key_id", "secret_access_key"],
        "onedata": ["name", "host", "token", "auth"],
    }
    for backend, fields in string_fields.items():
        base = BASES[backend]
        for field in fields:
            for kind, value in WRONG_TYPES.items():
                body = _json({**base, field: value})
                cases.append(Case(f"mount-{backend}-{field}-{kind}", "POST", "mounts", body))
            for kind, value in CONTROL.items():
                body = _json({**base, field: value})
                cases.append(
                    Case(f"mount-{backend}-{field}-{kind}", "POST", "mounts", body, (), 400)
                )
    return cases


def _mount_value_cases() -> list[Case]:
    cases = []
    for kind, value in NAME_BAD.items():
        for backend, base in BASES.items():
            body = _json({**base, "name": value})
            cases.append(Case(f"mount-{backend}-name-{kind}", "POST", "mounts", body, (), 400))
    for kind, value in PATH_BAD.items():
        body = _json({**WEBDAV, "path": value})
        cases.append(Case(f"mount-path-{kind}", "POST", "mounts", body, (), 400))
    for kind, value in URL_BAD.items():
        cases.append(Case(f"mount-url-{kind}", "POST", "mounts", _json({**WEBDAV, "url": value})))
        body = _json({**S3, "endpoint": value})
        cases.append(Case(f"mount-endpoint-{kind}", "POST", "mounts", body))
    for kind, value in HOST_BAD.items():
        body = _json({**ONEDATA, "host": value})
        cases.append(Case(f"mount-onedata-host-{kind}", "POST", "mounts", body, (), 400))
    bucket_bad = {
        "traversal": "../x",
        "one-char": "a",
        "long": "b" * 64,
        "option": "-b",
        "slash": "a/b",
        "colon": "a:b",
        "trailing-newline": "data\n",
    }
    for kind, value in bucket_bad.items():
        body = _json({**S3, "bucket": value})
        cases.append(Case(f"mount-bucket-{kind}", "POST", "mounts", body, (), 400))
    return cases


def _mount_other_cases() -> list[Case]:
    cases = []
    others = {
        "unknown-field": {**WEBDAV, "command": "rm -rf ~"},
        "s3-field-on-webdav": {**WEBDAV, "bucket": "data"},
        "missing-name": {k: v for k, v in WEBDAV.items() if k != "name"},
        "missing-backend": {k: v for k, v in WEBDAV.items() if k != "backend"},
        "missing-password": {k: v for k, v in WEBDAV.items() if k != "password"},
        "missing-url": {k: v for k, v in WEBDAV.items() if k != "url"},
        "b2drop-other-url": {**WEBDAV, "preset": "b2drop", "url": "https://x.org/"},
        "read-only-string": {**WEBDAV, "read_only": "yes"},
        "read-only-int": {**WEBDAV, "read_only": 1},
        "region-shell": {**S3, "region": "eu;reboot"},
        "region-long": {**S3, "region": "r" * 65},
        "password-huge": {**WEBDAV, "password": "p" * 9000},
        "user-slash": {**WEBDAV, "user": "a/b"},
        "user-long": {**WEBDAV, "user": "u" * 300},
        "onedata-auth-none": {**ONEDATA, "auth": "none"},
        "predefined-flag": {**WEBDAV, "predefined": True},
        "automount-flag": {**WEBDAV, "automount": True},
        "over-non-empty-folder": {**WEBDAV, "name": FULL},
        "name-exists": {**WEBDAV, "name": LIVE},
    }
    expected = {"over-non-empty-folder": 409, "name-exists": 409}
    for kind, value in others.items():
        body = _json(value)
        cases.append(Case(f"mount-{kind}", "POST", "mounts", body, (), expected.get(kind)))
    return cases


def _route_name_cases() -> list[Case]:
    cases = []
    names = {
        "missing": ("nothere", 404),
        "encoded-traversal": ("..%2F..%2Fetc", 400),
        "trailing-newline": (f"{LIVE}%0A", 400),
        "nul": ("a%00b", 400),
        "cr": ("a%0Db", 400),
        "space": ("a%20b", 400),
        "long": ("n" * 64, 400),
        "dot": ("%2E", 400),
        "shell": ("a;b", 400),
        "unicode": ("%EF%BD%84", 400),
        "bad-utf8": ("%FF", None),
        "option": ("-rf", 400),
    }
    for kind, (name, status) in names.items():
        cases += [
            Case(f"mount-get-{kind}", "GET", f"mounts/{name}", None, (), status),
            Case(f"mount-delete-{kind}", "DELETE", f"mounts/{name}", None, (), status),
            Case(f"mount-remount-{kind}", "POST", f"mounts/{name}/remount", b"{}", (), status),
            Case(f"mount-unmount-{kind}", "POST", f"mounts/{name}/unmount", b"", (), status),
        ]
    for kind, name in {
        "missing": "imagine-nothere",
        "foreign": "python3",
        "trailing-newline": "imagine-x%0A",
        "traversal": "..%2Fkernels",
        "upper": "imagine-X",
    }.items():
        status = 404 if kind == "missing" else 400
        cases.append(
            Case(f"kernel-delete-{kind}", "DELETE", f"software/kernels/{name}", None, (), status)
        )
    return cases


def _live_mount_cases() -> list[Case]:
    """Against a real mount: bad remount bodies and flags; it must stay mounted."""
    cases = []
    for kind, value in {**WRONG_TYPES, **CONTROL, "huge": "p" * 9000}.items():
        body = _json({"password": value})
        cases.append(
            Case(f"live-remount-password-{kind}", "POST", f"mounts/{LIVE}/remount", body, (), 400)
        )
    cases += [
        Case(
            "live-remount-unknown-field",
            "POST",
            f"mounts/{LIVE}/remount",
            _json({"url": "https://evil.example.org/"}),
            (),
            400,
        ),
        Case(
            "live-remount-other-secret",
            "POST",
            f"mounts/{LIVE}/remount",
            _json({"secret_access_key": "x"}),
            (),
            None,
        ),
        Case("live-unknown-action", "POST", f"mounts/{LIVE}/explode", b"{}", (), 404),
        Case("live-action-trailing-newline", "POST", f"mounts/{LIVE}/unmount%0A", b"", (), 404),
    ]
    for flag in ["yes", "TRUE", "2", "true\n", "-1", "on"]:
        query = (("force", flag),)
        cases.append(
            Case(f"live-unmount-force-{flag!r}", "POST", f"mounts/{LIVE}/unmount", b"", query, 400)
        )
        cases.append(
            Case(f"live-delete-force-{flag!r}", "DELETE", f"mounts/{LIVE}", None, query, 400)
        )
    return cases


def _software_cases() -> list[Case]:
    cases = []
    browse_paths = {
        **PATH_BAD,
        **{f"control-{k}": v for k, v in CONTROL.items()},
        "escape-symlink": "escape",
        "missing": "nothere",
        "file": cvmfs_tree.IMAGE,
        "loop": "loop",
        "loop-inside": "loop/x",
    }
    status = {"missing": 404, "loop": 409, "loop-inside": None, "escape-symlink": 400, "file": 400}
    for kind, value in browse_paths.items():
        cases.append(
            Case(
                f"browse-path-{kind}",
                "GET",
                "software/browse",
                None,
                (("path", value),),
                status.get(kind, 400),
            )
        )
    for kind, value in {
        "garbage": "garbage",
        "trailing-newline": "A" * 16 + ".1\n",
        "negative": "A" * 16 + ".-1",
        "huge": "A" * 16 + ".9999999999",
        "short-key": "A.1",
        "empty-offset": "A" * 16 + ".",
        "unicode-digit": "A" * 16 + ".١",
    }.items():
        cases.append(
            Case(f"browse-cursor-{kind}", "GET", "software/browse", None, (("cursor", value),), 400)
        )
    return cases


def _query_cases() -> list[Case]:
    cases = []
    limits = {
        "zero": "0",
        "negative": "-1",
        "text": "abc",
        "huge": "100000",
        "float": "1.5",
        "space": " 5",
        "newline": "5\n",
        "underscore": "1_0",
        "unicode-digit": "٥",
        "hex": "0x10",
        "long": "9" * 40,
    }
    for kind, value in limits.items():
        cases.append(
            Case(f"browse-limit-{kind}", "GET", "software/browse", None, (("limit", value),), 400)
        )
        cases.append(
            Case(f"modules-limit-{kind}", "GET", "software/modules", None, (("limit", value),), 400)
        )
        cases.append(
            Case(
                f"modules-offset-{kind}", "GET", "software/modules", None, (("offset", value),), 400
            )
        )
    for kind, value in {
        "exe": "exe",
        "upper": "ALL",
        "newline": "all\n",
        "empty-list": "[]",
    }.items():
        cases.append(
            Case(f"browse-kind-{kind}", "GET", "software/browse", None, (("kind", value),), 400)
        )
    stacks = {
        **PATH_BAD,
        "not-a-stack": "sft.cern.ch",
        "trailing-newline": cvmfs_tree.EESSI_STACK + "\n",
        "nul": "a\x00b",
    }
    for kind, value in stacks.items():
        cases.append(
            Case(
                f"modules-stack-{kind}",
                "GET",
                "software/modules",
                None,
                (("stack", value),),
                404 if kind == "not-a-stack" else 400,
            )
        )
    # offsets of zero or 100000 are valid: keep only the refusals
    return [c for c in cases if c.id not in ("modules-offset-zero", "modules-offset-huge")]
    return cases


def _kernel_cases() -> list[Case]:
    cases = []
    for field in ["kind", "id", "display_name"]:
        for kind, value in {**WRONG_TYPES, **CONTROL}.items():
            body = _json({**KERNEL, field: value})
            cases.append(Case(f"kernel-{field}-{kind}", "POST", "software/kernels", body, (), None))
    return cases


def _kernel_module_cases() -> list[Case]:
    cases = []
    valid_module_names = ("long", "slash")  # 64 characters and name/version are fine
    names = {k: v for k, v in NAME_BAD.items() if k not in valid_module_names}
    module_bad = {
        **names,
        **CONTROL,
        "shell": "G; rm -rf /",
        "subst": "$(id)",
        "option": "--force",
        "too-deep": "a/b/c/d/e",
        "int": 5,
        "null": None,
    }
    for kind, value in module_bad.items():
        body = _json({**KERNEL, "modules": [value]})
        cases.append(Case(f"kernel-module-{kind}", "POST", "software/kernels", body, (), 400))
    for kind, value in PATH_BAD.items():
        body = _json({**KERNEL, "id": value})
        cases.append(Case(f"kernel-id-{kind}", "POST", "software/kernels", body))
    return cases


def _kernel_other_cases() -> list[Case]:
    cases: list[Case] = []
    cases += [
        Case(
            "kernel-modules-string",
            "POST",
            "software/kernels",
            _json({**KERNEL, "modules": "GCC"}),
            (),
            400,
        ),
        Case(
            "kernel-modules-too-many",
            "POST",
            "software/kernels",
            _json({**KERNEL, "modules": ["GCC"] * 51}),
            (),
            400,
        ),
        Case(
            "kernel-unknown-field",
            "POST",
            "software/kernels",
            _json({**KERNEL, "argv": ["sh"]}),
            (),
            400,
        ),
        Case(
            "kernel-image-not-sif",
            "POST",
            "software/kernels",
            _json({"kind": "image", "id": "unpacked.cern.ch/images/notes.txt"}),
            (),
            404,
        ),
        Case(
            "kernel-display-long",
            "POST",
            "software/kernels",
            _json({**KERNEL, "display_name": "d" * 121}),
            (),
            400,
        ),
    ]
    return cases


def _culling_cases() -> list[Case]:
    cases = []
    for kind, value in {
        **WRONG_TYPES,
        **CONTROL,
        "null": None,
        "unknown": "typing",
        "upper": "KEY",
        "long": "k" * 3000,
        "trailing-newline": "key\n",
    }.items():
        body = _json({"kind": value})
        cases.append(Case(f"presence-kind-{kind}", "POST", "presence", body, (), 400))
    cases.append(Case("presence-empty", "POST", "presence", None, (), 400))
    number_fields = ["issued_at", "stop_at", "postpone_by"]
    bad_numbers = {"string": "1", "null": None, "true": True, "list": [1], "negative": -5}
    for field in number_fields:
        for kind, value in bad_numbers.items():
            body = _json({**WARNING, field: value})
            cases.append(Case(f"warning-{field}-{kind}", "PUT", "warning", body, (), 400, True))
    for kind, value in {
        "negative": -1,
        "float": 1.5,
        "string": "1",
        "true": True,
        "null": None,
    }.items():
        body = _json({**WARNING, "postponements_left": value})
        cases.append(Case(f"warning-left-{kind}", "PUT", "warning", body, (), 400, True))
    for kind, value in {"int": 1, "list": ["r"], "object": {}}.items():
        body = _json({**WARNING, "reason": value})
        cases.append(Case(f"warning-reason-{kind}", "PUT", "warning", body, (), 400, True))
    cases += [
        Case(
            "warning-stop-before-issue",
            "PUT",
            "warning",
            _json({**WARNING, "stop_at": 10.0}),
            (),
            400,
            True,
        ),
        Case("warning-from-a-user", "PUT", "warning", _json(WARNING), (), 403),
        Case("warning-delete-from-a-user", "DELETE", "warning", None, (), 403),
        Case("keep-without-warning", "POST", "warning/keep", b"{}", (), 409),
        Case("activity-post", "POST", "activity", b"{}", (), 405),
    ]
    return cases


ROUTES = {
    "status": {"GET"},
    "gpu": {"GET"},
    "activity": {"GET"},
    "presence": {"POST"},
    "warning": {"GET", "PUT", "DELETE"},
    "warning/keep": {"POST"},
    "mounts": {"GET", "POST"},
    f"mounts/{LIVE}": {"GET", "DELETE"},
    f"mounts/{LIVE}/remount": {"POST"},
    "software": {"GET"},
    "software/stacks": {"GET"},
    "software/modules": {"GET"},
    "software/browse": {"GET"},
    "software/kernels": {"GET", "POST"},
    "software/kernels/imagine-x": {"DELETE"},
}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _method_cases() -> list[Case]:
    cases = []
    for route, allowed in ROUTES.items():
        for method in METHODS:
            if method not in allowed:
                body = None if method in ("GET", "DELETE") else b"{}"
                cases.append(Case(f"method-{method}-{route}", method, route, body, (), 405))
    unknown = [
        "nothere",
        "mounts/a/b/c",
        "software/kernels/a/b",
        "gpu/x",
        "status/",
        "mounts/live/remount/x",
        "Mounts",
        "software/browse/x",
        "",
        "..%2Fstatus",
    ]
    for route in unknown:
        for method in ("GET", "POST"):
            body = b"{}" if method == "POST" else None
            cases.append(Case(f"route-{method}-{route or 'root'}", method, route, body, (), 404))
    return cases


def all_cases() -> list[Case]:
    return [
        *_body_cases(),
        *_mount_field_cases(),
        *_mount_value_cases(),
        *_mount_other_cases(),
        *_route_name_cases(),
        *_live_mount_cases(),
        *_software_cases(),
        *_query_cases(),
        *_kernel_cases(),
        *_kernel_module_cases(),
        *_kernel_other_cases(),
        *_culling_cases(),
        *_method_cases(),
    ]
