"""Running git on a repository the user cloned, without letting the repository run code.

A repository's own config can name commands git runs while reading the work tree (fsmonitor,
clean/process filters, hooks, external diff, gpg). Every call here overrides those on the
command line (which wins over any config file), never touches the network, never prompts, and
is killed after a timeout.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

# Command-line settings that win over the repository's config for everything git may run.
SAFE_CONFIG = (
    "core.fsmonitor=false",
    f"core.hooksPath={os.devnull}",
    "core.pager=cat",
    "diff.external=",
    "protocol.allow=never",
    "log.showSignature=false",
    "gpg.program=false",
    "status.submoduleSummary=false",
    "credential.helper=",
)
MAX_OUTPUT = 4 * 1024 * 1024


class GitUnavailable(RuntimeError):
    """git is not installed in the server's image, or did not answer in time."""


@dataclass(frozen=True)
class GitResult:
    code: int
    out: str
    err: str


class SafeGit:
    """Runs ``git`` with argv lists in one work tree; ``ceiling`` bounds repository discovery."""

    def __init__(self, cwd: str, ceiling: str, timeout: float = 10.0) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_OPTIONAL_LOCKS="0",  # reading must not rewrite the index
            GIT_CEILING_DIRECTORIES=ceiling,
            GIT_NO_REPLACE_OBJECTS="1",
            LC_ALL="C",
        )
        self.config: tuple[str, ...] = SAFE_CONFIG

    def neutralise_filters(self, drivers: list[str]) -> None:
        """Blank the commands of the repository's filter drivers (``filter.<name>.clean`` ...)."""
        blanks = [f"filter.{d}.{k}=" for d in drivers for k in ("clean", "smudge", "process")]
        blanks += [f"filter.{d}.required=false" for d in drivers]
        self.config = SAFE_CONFIG + tuple(blanks)

    async def __call__(self, *args: str) -> GitResult:
        argv = ["git", "--no-pager"]
        for setting in self.config:
            argv += ["-c", setting]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, *args, cwd=self.cwd, env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise GitUnavailable(f"git cannot run here ({exc.strerror})") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise GitUnavailable(f"git did not answer within {self.timeout:g} s") from None
        code = proc.returncode if proc.returncode is not None else -1
        text = out[:MAX_OUTPUT].decode("utf-8", "replace")
        return GitResult(code, text, err.decode("utf-8", "replace"))

    async def text(self, *args: str) -> str:
        """Stripped stdout, or "" when git fails (a missing ref, no upstream...)."""
        result = await self(*args)
        return result.out.strip() if result.code == 0 else ""
