"""Size of the built JupyterLab extension (gzip) beside jupyter-resource-usage's and
jupyterlab-nvdashboard's, whose wheels are downloaded with this environment's pip.

Usage: python bench/labext_size.py   (build first: `make lab`)
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OURS = REPO / "jupyterhub_imagine" / "labextension" / "static"
ANCHORS = ["jupyter-resource-usage==1.3.0", "jupyterlab-nvdashboard==0.15.0"]


def measure(files: Iterable[tuple[str, bytes]]) -> tuple[int, int, int]:
    """(file count, raw bytes, gzip -9 bytes) over the JavaScript files given."""
    count = raw = packed = 0
    for _, data in files:
        count += 1
        raw += len(data)
        packed += len(gzip.compress(data, compresslevel=9, mtime=0))
    return count, raw, packed


def ours() -> tuple[int, int, int]:
    if not OURS.is_dir():
        sys.exit(f"no build at {OURS}: run `make lab` first")
    return measure((p.name, p.read_bytes()) for p in sorted(OURS.glob("*.js")))


def wheel_js(wheel: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(wheel) as z:
        return [
            (name, z.read(name))
            for name in z.namelist()
            if "/share/jupyter/labextensions/" in name
            and "/static/" in name
            and name.endswith(".js")
        ]


def anchor(spec: str, folder: Path) -> tuple[int, int, int]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(folder),
            spec,
        ],
        check=True,
    )
    name = spec.split("==")[0].replace("-", "_").lower()
    wheels = [w for w in folder.glob("*.whl") if w.name.lower().startswith(name)]
    return measure(wheel_js(wheels[0]))


def main() -> None:
    rows = [("jupyterhub-imagine (this build)", *ours())]
    with tempfile.TemporaryDirectory() as tmp:
        for spec in ANCHORS:
            rows.append((spec, *anchor(spec, Path(tmp))))
    print(f"{'labextension':<34} {'js files':>8} {'raw KiB':>9} {'gzip KiB':>9}")
    for name, count, raw, packed in rows:
        print(f"{name:<34} {count:>8} {raw / 1024:>9.1f} {packed / 1024:>9.1f}")


if __name__ == "__main__":
    main()
