"""Token files for user servers on one machine: where they live, and writing them safely.

The decisions (names, paths, whether a refresh is due, whether a path is served) are pure
functions; ``write_tokens`` and ``remove_tokens`` are the only I/O.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ACCESS_TOKEN_ENV = "IMAGINE_ACCESS_TOKEN_FILE"
ID_TOKEN_ENV = "IMAGINE_ID_TOKEN_FILE"
# File names follow EGI Notebooks (/var/run/secrets/egi.eu/access_token).
FILE_NAMES = {"access_token": ACCESS_TOKEN_ENV, "id_token": ID_TOKEN_ENV}

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=,-]")


def user_dir_name(username: str) -> str:
    """A directory name for ``username`` that cannot escape its parent.

    Characters other than letters, digits and ``._@+=,-`` (so also ``/`` and ``%``) become
    ``%XX``, as does a leading dot: names stay distinct, and never are ``.``, ``..`` or hidden.
    """
    if not username:
        raise ValueError("empty user name")
    name = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), username)
    return "%2E" + name[1:] if name.startswith(".") else name


@dataclass(frozen=True)
class TokenPaths:
    """The per-user directory and the files in it."""

    directory: Path

    def file(self, kind: str) -> Path:
        return self.directory / kind

    def server_env(self, kinds: list[str]) -> dict[str, str]:
        """Environment variables naming the files, for the server's process."""
        return {FILE_NAMES[k]: str(self.file(k)) for k in kinds}


def paths_for(token_dir: str | Path, username: str) -> TokenPaths:
    return TokenPaths(Path(token_dir).absolute() / user_dir_name(username))


def refresh_due(expires_at: float, now: float, ahead: float) -> bool:
    """Whether an access token expiring at ``expires_at`` should be refreshed now."""
    return now + ahead >= expires_at


def inside(path: str | Path, root: str | Path) -> bool:
    """Whether ``path`` is ``root`` or below it (both resolved, so symlinks count)."""
    p, r = Path(path).resolve(), Path(root).resolve()
    return p == r or r in p.parents


def tokens_from_auth_state(auth_state: Mapping[str, object], kinds: list[str]) -> dict[str, str]:
    """The tokens to hand to servers, by file name; empty when there is no access token."""
    found = {k: auth_state.get(k) for k in kinds}
    if not isinstance(found.get("access_token"), str) or not found["access_token"]:
        return {}
    return {k: v for k, v in found.items() if isinstance(v, str) and v}


def _write_private(path: Path, text: str, uid: int, gid: int) -> None:
    """Write ``text`` to ``path`` atomically, 0600 and owned by uid:gid from the first byte."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if (uid, gid) != (os.getuid(), os.getgid()):
            os.fchown(fd, uid, gid)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    # rename: a server re-reading the file sees the old token or the new one, never half of one.
    os.replace(tmp, path)


def write_tokens(paths: TokenPaths, tokens: Mapping[str, str], uid: int, gid: int) -> None:
    """Create the user's directory (0700) and write each token file (0600), owned by uid:gid."""
    d = paths.directory
    d.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    d.mkdir(mode=0o700, exist_ok=True)
    if d.is_symlink() or not d.is_dir():
        raise RuntimeError(f"{d} is not a directory")
    os.chmod(d, 0o700)
    if (uid, gid) != (os.getuid(), os.getgid()):
        os.chown(d, uid, gid)
    for kind, token in tokens.items():
        _write_private(paths.file(kind), token, uid, gid)
    for kind in FILE_NAMES:
        if kind not in tokens:
            paths.file(kind).unlink(missing_ok=True)


def remove_tokens(paths: TokenPaths) -> bool:
    """Delete the user's token directory; True when there was one."""
    d = paths.directory
    if d.is_symlink():
        d.unlink()
        return True
    if not d.exists():
        return False
    shutil.rmtree(d)
    return True
