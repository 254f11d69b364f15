"""Input checks shared by the mounts and software APIs, and the error they raise.

Everything here is pure: functions take request values and return clean ones, or raise
:class:`UserError` with a message that tells the user what to change. Handlers turn a UserError
into a 4xx JSON answer.
"""

from __future__ import annotations

import re
from typing import Any

from tornado import web

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_PATH_CHARS = 1024


class UserError(web.HTTPError):
    """A request the server refuses with a 4xx (or 501) and a message saying what to do.

    The message is passed as a logging argument, never as a format string, so user input
    containing ``%`` cannot break logging.
    """

    def __init__(self, message: str, reason: str = "bad-request", *, status: int = 400) -> None:
        super().__init__(status, "%s", message)
        self.message = message
        self.reason_code = reason


class NotFound(UserError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=404, reason="not-found")


def error_payload(exc: BaseException | None, status: int, default: str) -> dict[str, str]:
    """The JSON body of an error answer (never a traceback or internal detail)."""
    if isinstance(exc, UserError):
        return {"message": exc.message, "reason": exc.reason_code}
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


def check_name(value: Any, what: str = "name") -> str:
    """A short name used as a directory or kernel name: letters, digits, '.', '_', '-'."""
    if not isinstance(value, str) or not NAME_RE.match(value):
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
    try:
        number = int(value)
    except ValueError:
        raise UserError(f"'{what}' must be an integer", reason="invalid-query") from None
    if not low <= number <= high:
        raise UserError(f"'{what}' must be between {low} and {high}", reason="invalid-query")
    return number


def only_fields(body: dict[str, Any], allowed: set[str], what: str) -> None:
    """Refuse unknown fields, so typos do not silently do nothing."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise UserError(
            f"unknown field(s) for {what}: {', '.join(repr(k)[:40] for k in unknown[:5])}; "
            f"allowed: {', '.join(sorted(allowed))}",
            reason="unknown-field",
        )
