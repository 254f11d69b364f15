"""`make demo`: start the single-machine demo on 127.0.0.1 and stop everything on Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .oidc import USERS_FILE
from .stack import DemoError, DemoSettings, DemoStack

ROLES = {
    "alice": "community member entitled to GPUs (GPU profiles visible)",
    "bob": "plain community member (CPU profile only)",
    "carol": "not in the community (login refused, with where to enrol)",
}


def _banner(stack: DemoStack) -> str:
    users = json.loads(USERS_FILE.read_text())["users"]
    lines = [
        "",
        f"  jupyterhub-imagine demo is running: open {stack.url}",
        "",
        "  Sample logins (username / password):",
    ]
    for user in users:
        name = user["username"]
        lines.append(f"    {name:<6} / {user['password']:<6}  {ROLES.get(name, '')}")
    if stack.simulated_gpus:
        lines += ["", "  This machine has no GPU: the demo simulates two A100s and an H100 in MIG",
                  "  slices (marked \"simulated\"). Run train-on-the-gpu.ipynb to keep one busy."]
    if stack.storage is not None:
        lines += ["", f"  Demo storage (WebDAV, offered in the Data panel): {stack.storage.url}"]
    lines += ["", "  Press Ctrl-C to stop the hub, its servers and the OpenID provider.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="public port of the hub")
    parser.add_argument("--provider-port", type=int, default=8020, help="OpenID provider port")
    parser.add_argument("--hub-port", type=int, default=8081, help="the hub's own port")
    parser.add_argument("--proxy-api-port", type=int, default=8001, help="the proxy's API port")
    parser.add_argument("--culler-port", type=int, default=8002, help="the culler's port")
    parser.add_argument("--webdav-port", type=int, default=8030, help="the demo storage's port")
    parser.add_argument("--state-dir", type=Path, default=Path(".demo"),
                        help="where the demo keeps its database, secrets and user homes")
    parser.add_argument("--gpus", choices=("auto", "real", "simulated"), default="auto",
                        help="the machine's GPUs or simulated ones (auto: simulated without a GPU)")
    args = parser.parse_args(argv)
    settings = DemoSettings(state_dir=args.state_dir.resolve(), port=args.port,
                            provider_port=args.provider_port, hub_port=args.hub_port,
                            proxy_api_port=args.proxy_api_port, culler_port=args.culler_port,
                            webdav_port=args.webdav_port, gpus=args.gpus)
    stack = DemoStack(settings)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack.start()
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    print(_banner(stack), flush=True)
    try:
        while not stopping.wait(1.0):
            if stack.hub is None or stack.hub.poll() is not None:
                print("demo: JupyterHub stopped unexpectedly; shutting down.", file=sys.stderr)
                return 1
    finally:
        print("demo: stopping…", flush=True)
        stack.stop()
        print("demo: stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
