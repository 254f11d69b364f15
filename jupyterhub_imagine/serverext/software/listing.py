"""Lazy, paginated directory listings: a page costs one page of directory reads.

Huge CVMFS directories (100,000 entries) are read with ``os.scandir`` in directory order. A cursor
keeps the open iterator between pages; when it has expired, the next page reopens the directory
and skips to the same offset, so a cursor stays valid (if slower) for as long as the directory
does not change.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..validation import UserError

CURSOR_RE = re.compile(r"([A-Za-z0-9_-]{16})\.([0-9]{1,9})")
KINDS = ("all", "image", "dir")


@dataclass
class _Open:
    path: str
    iterator: Iterator[os.DirEntry[str]]
    offset: int
    used_at: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


def entry_kind(entry: os.DirEntry[str]) -> str:
    """'dir', 'image' (an Apptainer .sif file) or 'file'."""
    try:
        if entry.is_dir():
            return "dir"
    except OSError:
        return "file"
    return "image" if entry.name.endswith(".sif") else "file"


def keep(kind: str, wanted: str) -> bool:
    """Whether an entry of this kind belongs to a listing of ``wanted`` entries (pure)."""
    if wanted == "all":
        return True
    if wanted == "image":
        return kind in ("dir", "image")  # directories stay, so users can walk to the images
    return kind == wanted


class DirectoryPager:
    """Serves pages of directory listings; thread-safe, bounded number of open cursors."""

    def __init__(self, *, max_open: int = 64, ttl: float = 300.0) -> None:
        self.max_open = max_open
        self.ttl = ttl
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for item in self._open.values():
                _close(item.iterator)
            self._open.clear()

    def _take(self, path: str, cursor: str | None) -> tuple[str, _Open]:
        if not cursor:
            return secrets.token_urlsafe(12), _Open(path, iter(os.scandir(path)), 0)
        match = CURSOR_RE.fullmatch(cursor)
        if not match:
            raise UserError("'cursor' is not a cursor this server gave out", "invalid-cursor")
        key, offset = match.group(1), int(match.group(2))
        with self._lock:
            item = self._open.pop(key, None)
        if item is not None and item.path == path and item.offset == offset:
            return key, item
        if item is not None:
            _close(item.iterator)
        iterator = iter(os.scandir(path))  # expired: reopen and skip to the same place
        for _ in range(offset):
            if next(iterator, None) is None:
                break
        return key, _Open(path, iterator, offset)

    def page(self, path: str, cursor: str | None, limit: int, wanted: str = "all") -> dict:
        """One page: ``{"entries": [{"name", "kind"}], "next_cursor": str | None}``."""
        try:
            key, item = self._take(path, cursor)
        except NotADirectoryError:
            raise UserError("'path' is not a directory", "not-a-directory") from None
        except FileNotFoundError:
            raise UserError("'path' does not exist", "not-found", status=404) from None
        except OSError as e:
            raise _unreadable(e) from None
        entries: list[dict[str, str]] = []
        done = False
        with item.lock:
            while len(entries) < limit:
                try:
                    entry = next(item.iterator, None)
                except OSError as e:
                    _close(item.iterator)
                    raise _unreadable(e) from None
                if entry is None:
                    done = True
                    break
                item.offset += 1
                if entry.name.startswith("."):
                    continue
                kind = entry_kind(entry)
                if keep(kind, wanted):
                    entries.append({"name": entry.name, "kind": kind})
        if done:
            _close(item.iterator)
            return {"entries": entries, "next_cursor": None}
        self._store(key, item)
        return {"entries": entries, "next_cursor": f"{key}.{item.offset}"}

    def _store(self, key: str, item: _Open) -> None:
        item.used_at = time.monotonic()
        with self._lock:
            self._open[key] = item
            now = time.monotonic()
            while self._open and (
                len(self._open) > self.max_open
                or now - next(iter(self._open.values())).used_at > self.ttl
            ):
                _, old = self._open.popitem(last=False)
                _close(old.iterator)


def _unreadable(error: OSError) -> UserError:
    """The answer for a directory that cannot be read (a symbolic link loop, no access, ...)."""
    if error.errno == errno.ELOOP:
        return UserError("'path' is a symbolic link loop", "symlink-loop", status=409)
    if error.errno in (errno.EACCES, errno.EPERM):
        return UserError("'path' cannot be read: permission denied", "forbidden", status=403)
    code = errno.errorcode.get(error.errno or 0, "error")
    return UserError(f"'path' cannot be read ({code})", "unreadable", status=409)


def _close(iterator: Iterator[os.DirEntry[str]]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
