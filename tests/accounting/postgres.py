"""A private PostgreSQL server on loopback (Debian's `postgresql` package), for one test run.

It runs from a fresh data directory in /tmp, as the `postgres` user when the tests run as root
(PostgreSQL refuses root), and is stopped by the fixture that started it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.net import free_port
from tests.support.procs import wait_answering


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert found, "PostgreSQL is missing: `make system-deps` installs Debian's postgresql"
    return Path(found[-1]).parent


def _as_postgres() -> dict:
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of an empty database `accounting`; stop the server after."""
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="imagine-pg-"))
    data, sock, log = root / "data", root / "sock", root / "postgres.log"
    sock.mkdir()
    ids = _as_postgres()
    if ids:
        os.chmod(root, 0o755)
        for path in (root, sock):
            os.chown(path, ids["user"], ids["group"])
    subprocess.run(
        [str(bindir() / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
         "--no-sync", "-E", "UTF8"],
        check=True, capture_output=True, **ids,
    )
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(bindir() / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
             "-k", str(sock), "-c", "fsync=off", "-c", "full_page_writes=off"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **ids,
        )
    dsn = f"host=127.0.0.1 port={port} user=postgres"
    try:
        def ready() -> bool:
            try:
                with psycopg.connect(dsn + " dbname=postgres", connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                return False

        wait_answering(ready, proc, lambda: log.read_text(errors="replace"), "postgres", 60)
        with psycopg.connect(dsn + " dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE accounting")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/accounting"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
