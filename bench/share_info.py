"""Latency of GET /jupyterhub-imagine/api/share (the Share button's git facts).

Starts a real jupyter-server with the extension (FAKE NVML, tests/support/fake_nvml.py) over
real git clones of several sizes, and prints p50/p99 of sequential requests next to
/status of the same server (the floor). The answer runs about ten git commands; `git status`
over the work tree dominates in large repositories.

    python bench/share_info.py [--requests 30] [--files 20000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.serverext.server_proc import running_server  # noqa: E402

ENV = {
    "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.org",
    "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.org", "PATH": "/usr/bin:/bin",
}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True)


def clone(tmp: Path, root: Path, name: str, files: int, modified: int) -> None:
    """A clone under ``root`` of a bare repository holding ``files`` files, pushed."""
    seed = tmp / f"{name}-seed"
    for i in range(files):
        folder = seed / f"d{i // 500}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.py").write_text(f"x = {i}\n")
    git("init", "-q", "-b", "main", str(seed), cwd=tmp)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    bare = tmp / f"{name}.git"
    git("clone", "-q", "--bare", str(seed), str(bare), cwd=tmp)
    git("clone", "-q", str(bare), str(root / name), cwd=tmp)
    git("remote", "set-url", "origin", f"https://example.org/org/{name}.git", cwd=root / name)
    for i in range(modified):
        (root / name / f"d{i // 500}" / f"f{i}.py").write_text("changed\n")


def timed(server: object, route: str, params: dict[str, str], count: int) -> list[float]:
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        response = server.api("GET", route, params=params)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    return times


def line(label: str, times: list[float]) -> str:
    p99 = statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]
    return f"{label:<40} p50 {statistics.median(times):7.1f} ms   p99 {p99:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--files", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        root = tmp / "home"
        root.mkdir()
        clone(tmp, root, "small", 10, 0)
        clone(tmp, root, "large", args.files, 0)
        clone(tmp, root, "dirty", args.files, 1000)
        with running_server(tmp, {}) as server:
            print(line("/status (floor)", timed(server, "status", {}, args.requests)))
            for name, label in [
                ("small", "share: 10 files, clean"),
                ("large", f"share: {args.files} files, clean"),
                ("dirty", f"share: {args.files} files, 1000 changed"),
            ]:
                params = {"path": f"{name}/d0/f0.py"}
                print(line(label, timed(server, "share", params, args.requests)))


if __name__ == "__main__":
    main()
