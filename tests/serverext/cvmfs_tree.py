"""A directory tree laid out like /cvmfs: an EESSI-style stack with modules, an LCG view, images.

The EESSI-style init script defines a small `module` shell function, as a real stack's init
script provides Lmod's: loading a module exports a variable the kernel test can see.
"""

from __future__ import annotations

import os
from pathlib import Path

EESSI = "software.eessi.io"
EESSI_STACK = f"{EESSI}/versions/2023.06"
LCG_STACK = "sft.cern.ch/lcg/views/LCG_105/x86_64-el9-gcc13-opt"
IMAGE = "unpacked.cern.ch/images/tool.sif"

EESSI_INIT = """\
export EESSI_VERSION=2023.06
export EESSI_PREFIX="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module() {
  if [ "$1" = load ]; then
    [ -e "$EESSI_PREFIX/software/linux/x86_64/generic/modules/all/$2.lua" ] || return 1
    local var="LOADED_$(echo "${2%%/*}" | tr '[:lower:]-' '[:upper:]_')"
    export "$var=$2"
  fi
}
echo "Environment set up to use EESSI 2023.06"
"""


def _write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def build(root: Path) -> Path:
    """Create the tree under root and return root."""
    stack = root / EESSI_STACK
    _write(stack / "init" / "bash", EESSI_INIT)
    modules = stack / "software/linux/x86_64/generic/modules/all"
    for name in ("GCC/12.3.0", "GCC/13.2.0", "Python/3.11.3", "SciPy-bundle/2023.07-gfbf"):
        _write(modules / f"{name}.lua", "-- modulefile\n")
    _write(modules / "GCC" / ".modulerc.lua", "-- Lmod settings, not a module\n")
    _write(root / LCG_STACK / "setup.sh", "export LCG_VERSION=105\n")
    _write(root / "sft.cern.ch/lcg/views/LCG_105/x86_64-el9-gcc13-dbg/README", "no setup here\n")
    _write(root / IMAGE, "SIF-placeholder\n")
    _write(root / "unpacked.cern.ch/images/notes.txt", "not an image\n")
    (root / "unpacked.cern.ch/images/nested").mkdir()
    (root / "empty.repo").mkdir()
    os.symlink("loop.repo", root / "loop.repo")  # ELOOP, like a misconfigured client
    return root
