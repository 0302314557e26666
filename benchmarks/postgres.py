"""A throwaway PostgreSQL server for the harnesses that need a shared storage (chaos): initdb in a folder of its own
under /tmp, a free local port, trust authentication, the database `optlab`; stopped and removed when the block ends.
Debian's server programs (apt-get install postgresql) under /usr/lib/postgresql/<version>/bin; as root they run as
the `postgres` user, since PostgreSQL refuses root. tests/services.py starts the tests' server the same way.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    url: str  # SQLAlchemy's URL of the database `optlab`
    data: Path  # the server's data folder, what pg_ctl names it by

    def stop(self) -> None:
        _pg_ctl(self.data, "stop")

    def start(self) -> None:
        _pg_ctl(self.data, "start")


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        sys.exit("bench: PostgreSQL's initdb is missing: apt-get install postgresql")
    return Path(initdb).parent


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed: {done.stderr.strip()}")


def _pg_ctl(data: Path, action: str) -> None:
    options = ["-m", "fast"] if action == "stop" else []  # fast: the clients are disconnected, as in a restart
    _run([str(_binaries() / "pg_ctl"), "-D", str(data), "-w", "-l", str(data.parent / "server.log"), *options, action])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    folder = Path(tempfile.mkdtemp(prefix="optlab-bench-postgres-"))
    data, port = folder / "pgdata", _free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    _run([str(_binaries() / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    settings = data / "postgresql.auto.conf"
    settings.write_text(f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{folder}'\n")
    if os.geteuid() == 0:
        shutil.chown(settings, "postgres")
    server = Server(f"postgresql+psycopg://postgres@127.0.0.1:{port}/optlab", data)
    server.start()
    try:
        _run([str(_binaries() / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "optlab"])
        yield server
    finally:
        with contextlib.suppress(SystemExit):  # already stopped: nothing more to do
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
