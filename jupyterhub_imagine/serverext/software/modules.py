"""Environment modules: through Lmod when it is installed, else by scanning modulefile trees."""

from __future__ import annotations

import glob
import os
import re
import subprocess

from ..validation import UserError

_PART = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
MODULE_RE = re.compile(rf"{_PART}(/{_PART}){{0,3}}")
MAX_MODULES = 20000
_MARKERS_RE = re.compile(r"\s*\((?:D|L|E|default|[A-Za-z,]+)\)\s*$")


def check_module(value: object) -> str:
    """A module name such as ``GCC/12.3.0``: no shell metacharacters, no '..'."""
    if not isinstance(value, str) or not MODULE_RE.fullmatch(value) or ".." in value:
        raise UserError(
            "module names look like 'name' or 'name/version' (letters, digits, '.', '_', '+', '-')",
            "invalid-module",
        )
    return value


def module_dirs(stack_dir: str, globs: list[str]) -> list[str]:
    """Module directories inside a stack, found with root-relative glob patterns."""
    found: list[str] = []
    for pattern in globs:
        for path in sorted(glob.glob(os.path.join(glob.escape(stack_dir), pattern))):
            if os.path.isdir(path) and path not in found:
                found.append(path)
    return found


def _versions(folder: str) -> list[str]:
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .version / .modulerc: Lmod's own settings
            if entry.is_file():
                names.append(entry.name[:-4] if entry.name.endswith(".lua") else entry.name)
    return names


def scan_catalog(dirs: list[str]) -> list[str]:
    """``name/version`` for every modulefile (Lua or Tcl) in the given module directories."""
    found: set[str] = set()
    for folder in dirs:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or len(found) >= MAX_MODULES:
                continue
            try:
                if entry.is_dir():
                    found.update(f"{entry.name}/{v}" for v in _versions(entry.path))
                elif entry.name.endswith(".lua"):
                    found.add(entry.name[:-4])
            except OSError:
                continue
    return sorted(found, key=str.lower)


def parse_terse_avail(text: str) -> list[str]:
    """Module names from ``module -t avail`` output (directory headers end with ':') (pure)."""
    names: set[str] = set()
    for raw in text.splitlines():
        line = _MARKERS_RE.sub("", raw.strip())
        if not line or line.endswith(":") or line.endswith("/"):
            continue
        if MODULE_RE.fullmatch(line):
            names.add(line)
    return sorted(names, key=str.lower)


def lmod_avail(lmod: str, dirs: list[str], timeout: float = 30) -> list[str]:
    """Ask Lmod for the modules in these directories (it honours hidden modules and defaults)."""
    env = {**os.environ, "MODULEPATH": ":".join(dirs)}
    result = subprocess.run(
        [lmod, "bash", "-t", "avail"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return parse_terse_avail(result.stderr)  # Lmod writes listings on stderr, shell code on stdout
