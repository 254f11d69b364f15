"""Input checks shared by the mounts and software APIs, and the error they raise.

Everything here is pure: functions take request values and return clean ones, or raise
:class:`UserError` with a message that tells the user what to change. Handlers turn a UserError
into a 4xx JSON answer.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from tornado import web

# every pattern here is used with fullmatch: '$' would also match before a final newline
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
MAX_PATH_CHARS = 1024
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16


class UserError(web.HTTPError):
    """A request the server refuses with a 4xx (or 501) and a message saying what to do.

    The message is passed as a logging argument, never as a format string, so user input
    containing ``%`` cannot break logging.
    """

    def __init__(
        self,
        message: str,
        reason: str = "bad-request",
        *,
        status: int = 400,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, "%s", message)
        self.message = message
        self.reason_code = reason
        self.details = details or {}


class NotFound(UserError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=404, reason="not-found")


def error_payload(exc: BaseException | None, status: int, default: str) -> dict[str, Any]:
    """The JSON body of an error answer (never a traceback or internal detail)."""
    if isinstance(exc, UserError):
        return {**exc.details, "message": exc.message, "reason": exc.reason_code}
    if isinstance(exc, web.HTTPError):
        message = exc.log_message or default
        if exc.args and exc.log_message:
            try:
                message = exc.log_message % exc.args
            except (TypeError, ValueError):
                pass
        return {"message": message, "reason": getattr(exc, "reason_code", "") or ""}
    if status >= 500:
        return {"message": "Internal error; see the server log.", "reason": "internal"}
    return {"message": default, "reason": ""}


def json_depth(raw: bytes, stop_above: int | None = None) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without parsing it.

    Strings are blanked first so brackets inside them do not count; linear in the size.
    With ``stop_above``, counting stops as soon as the depth exceeds it.
    """
    brackets = _STRING_RE.sub(b'""', raw).translate(None, _NOT_BRACKETS)
    depth = peak = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > peak:
                peak = depth
                if stop_above is not None and peak > stop_above:
                    break
        else:
            depth -= 1
    return peak


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(
    raw: bytes | None,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    empty: Any = None,
) -> Any:
    """A request body parsed as JSON, after checking its size and nesting depth.

    Both limits are checked before parsing, so a hostile body can neither exhaust memory nor
    make the parser recurse too deeply. An empty body gives ``empty``.
    """
    raw = raw or b""
    if len(raw) > max_bytes:
        raise UserError(
            f"the request body is larger than {max_bytes} bytes", "too-large", status=413
        )
    if not raw.strip():
        return empty
    if json_depth(raw, stop_above=max_depth) > max_depth:
        raise UserError(
            f"the request body nests arrays or objects deeper than {max_depth} levels",
            "too-deep",
        )
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        detail = str(exc)[:120] if isinstance(exc, ValueError) else "too deeply nested"
        raise UserError(f"the request body is not valid JSON: {detail}", "bad-json") from None


def parse_json_object(raw: bytes | None, **limits: Any) -> dict[str, Any]:
    """A request body that must be a JSON object (an empty body is an empty object)."""
    data = parse_json_body(raw, empty={}, **limits)
    if not isinstance(data, dict):
        raise UserError("the request body must be a JSON object", "bad-json")
    return data


def check_hostname(value: Any, what: str = "host") -> str:
    """A DNS name (at most 253 characters, labels of 1-63) or an IP address literal."""
    if not isinstance(value, str) or not value:
        raise UserError(f"'{what}' must be a host name", reason="invalid-host")
    try:
        ipaddress.ip_address(value.strip("[]") if value.startswith("[") else value)
        return value
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253 or not all(_LABEL_RE.fullmatch(p) for p in name.split(".")):
        raise UserError(
            f"'{what}' must be a host name of at most 253 characters, with dot-separated "
            "labels of 1-63 letters, digits or '-' (not starting or ending with '-')",
            reason="invalid-host",
        )
    return value


def check_name(value: Any, what: str = "name") -> str:
    """A short name used as a directory or kernel name: letters, digits, '.', '_', '-'."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise UserError(
            f"'{what}' must be 1-63 characters: letters, digits, '.', '_' or '-', starting "
            "with a letter or digit",
            reason="invalid-name",
        )
    return value


def check_text(value: Any, what: str, max_chars: int = 256, *, required: bool = True) -> str:
    """A single-line string without control characters."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise UserError(f"'{what}' must be a non-empty string", reason="invalid-field")
    if len(value) > max_chars:
        raise UserError(f"'{what}' is longer than {max_chars} characters", reason="invalid-field")
    if _CONTROL_RE.search(value):
        raise UserError(f"'{what}' must not contain control characters", reason="invalid-field")
    return value


def check_relative_path(value: Any, what: str = "path", *, allow_empty: bool = True) -> str:
    """A '/'-separated relative path with no '..', '.', empty or absolute parts."""
    if value is None or value == "":
        if allow_empty:
            return ""
        raise UserError(f"'{what}' is required", reason="invalid-path")
    text = check_text(value, what, max_chars=MAX_PATH_CHARS)
    if text.startswith("/") or "\\" in text:
        raise UserError(
            f"'{what}' must be relative, with '/' separators (got an absolute or Windows path)",
            reason="invalid-path",
        )
    parts = text.strip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UserError(
            f"'{what}' must not contain '..', '.' or empty parts", reason="invalid-path"
        )
    return "/".join(parts)


def check_bool(value: Any, what: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise UserError(f"'{what}' must be true or false", reason="invalid-field")
    return value


def check_int_arg(value: str | None, what: str, *, default: int, low: int, high: int) -> int:
    """An integer query argument within [low, high]."""
    if value is None or value == "":
        return default
    if not re.fullmatch(r"-?[0-9]{1,12}", value):
        raise UserError(f"'{what}' must be an integer", reason="invalid-query")
    number = int(value)
    if not low <= number <= high:
        raise UserError(f"'{what}' must be between {low} and {high}", reason="invalid-query")
    return number


def check_flag_arg(value: str | None, what: str) -> bool:
    """A true/false query argument (absent: false)."""
    if value is None or value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise UserError(f"'{what}' must be true or false", reason="invalid-query")


def only_fields(body: dict[str, Any], allowed: set[str], what: str) -> None:
    """Refuse unknown fields, so typos do not silently do nothing."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise UserError(
            f"unknown field(s) for {what}: {', '.join(repr(k)[:40] for k in unknown[:5])}; "
            f"allowed: {', '.join(sorted(allowed))}",
            reason="unknown-field",
        )
