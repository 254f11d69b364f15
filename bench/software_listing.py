"""Listing a 100,000-entry software directory through GET /software/browse.

Builds a CVMFS-like repository with one huge directory, starts a real jupyter-server with the
extension, and prints the time to the first page and to the full listing (following cursors).

    python bench/software_listing.py [--entries 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from gpu_latency import Server, running_server
from tornado.httpclient import HTTPClient

BROWSE = "/jupyterhub-imagine/api/software/browse"


def build(root: Path, entries: int) -> Path:
    big = root / "repo.example.org" / "containers"
    big.mkdir(parents=True)
    for i in range(entries):
        name = f"image-{i:06d}.sif" if i % 10 == 0 else f"file-{i:06d}.txt"
        os.close(os.open(big / name, os.O_CREAT | os.O_WRONLY, 0o644))
    return big


def fetch(http: HTTPClient, server: Server, params: dict[str, str | int]) -> dict:
    url = f"{server.url}{BROWSE}?{urlencode(params)}"
    response = http.fetch(url, headers={"Authorization": f"token {server.token}"})
    return json.loads(response.body)


def listing(http: HTTPClient, server: Server, limit: int, kind: str) -> tuple[float, float, int]:
    """(first page seconds, full listing seconds, entries) for one page size."""
    params: dict[str, str | int] = {
        "path": "repo.example.org/containers",
        "limit": limit,
        "kind": kind,
    }
    start = time.perf_counter()
    page = fetch(http, server, params)
    first = time.perf_counter() - start
    count = len(page["entries"])
    while page["next_cursor"]:
        page = fetch(http, server, {**params, "cursor": page["next_cursor"]})
        count += len(page["entries"])
    return first, time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagine-cvmfs-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        big = build(root, args.entries)
        print(f"built {args.entries} entries in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        names = sorted(os.listdir(big))
        print(
            f"baseline sorted(os.listdir): {1000 * (time.perf_counter() - start):.1f} ms "
            f"for {len(names)} names (in-process, no HTTP)"
        )
        extra = [f"--ImagineSoftwareCatalog.root={root}"]
        with running_server(extra) as server:
            http = HTTPClient()
            fetch(http, server, {"path": "", "limit": 10})  # warm-up
            print(
                f"{'page size':>9} {'kind':>6} {'first page ms':>14} {'full listing s':>15} "
                f"{'entries':>8}"
            )
            for limit, kind in ((200, "all"), (1000, "all"), (2000, "all"), (1000, "image")):
                first, full, count = listing(http, server, limit, kind)
                print(f"{limit:>9} {kind:>6} {first * 1000:>14.1f} {full:>15.2f} {count:>8}")
            http.close()


if __name__ == "__main__":
    main()
