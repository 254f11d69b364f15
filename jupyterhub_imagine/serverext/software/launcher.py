"""Kernel launcher: set up a software stack, modules or a container, then exec the kernel.

    python -m jupyterhub_imagine.serverext.software.launcher \\
        [--init SCRIPT] [--module NAME ...] [--image SIF --apptainer PROG] -- KERNEL ARGV...

The init script and modules are applied by bash running a fixed script; paths and module names
are passed as positional arguments, never pasted into shell code. The environment bash ends with
becomes the kernel's environment, so each kernel gets its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

# Fixed shell code: "$1" is the init script ('' for none), the rest are module names.
SETUP_SCRIPT = """
init="$1"; shift
if [ -n "$init" ]; then . "$init" 1>&2 || { echo "sourcing $init failed" >&2; exit 3; }; fi
for m in "$@"; do
  type module >/dev/null 2>&1 || { echo "no 'module' command after the init script" >&2; exit 4; }
  module load "$m" 1>&2 || { echo "module load $m failed" >&2; exit 4; }
done
exec env -0
"""
_DROP = {"_", "SHLVL", "OLDPWD"}


def parse_env(blob: bytes) -> dict[str, str]:
    """Parse ``env -0`` output (pure)."""
    env = {}
    for item in blob.split(b"\0"):
        key, sep, value = item.decode(errors="surrogateescape").partition("=")
        if sep and key and key not in _DROP:
            env[key] = value
    return env


def setup_environment(init: str, modules: list[str]) -> dict[str, str]:
    """The environment after sourcing ``init`` and loading ``modules``."""
    if not init and not modules:
        return dict(os.environ)
    argv = ["bash", "--noprofile", "--norc", "-c", SETUP_SCRIPT, "imagine-launcher", init, *modules]
    result = subprocess.run(argv, stdout=subprocess.PIPE, check=False)
    if result.returncode != 0:
        code = result.returncode
        raise SystemExit(f"imagine launcher: setting up the environment failed ({code})")
    return parse_env(result.stdout)


def kernel_argv(kernel: list[str], image: str, apptainer: str) -> list[str]:
    """The final command: the kernel itself, or the kernel inside the container (pure)."""
    if image:
        return [apptainer, "exec", image, *kernel]
    return kernel


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        raise SystemExit("usage: launcher [options] -- kernel argv")
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="imagine-launcher")
    parser.add_argument("--init", default="")
    parser.add_argument("--module", action="append", default=[])
    parser.add_argument("--image", default="")
    parser.add_argument("--apptainer", default="apptainer")
    options = parser.parse_args(args[:split])
    kernel = args[split + 1 :]
    if not kernel:
        raise SystemExit("imagine launcher: no kernel command after '--'")
    env = setup_environment(options.init, options.module)
    final = kernel_argv(kernel, options.image, options.apptainer)
    sys.stdout.flush()
    os.execvpe(final[0], final, env)


if __name__ == "__main__":
    main()
