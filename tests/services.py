"""Real services for the tests, started in a temporary folder and stopped after: a PostgreSQL server (Debian's
`postgresql`) for shared Optuna storage, and a one-node SLURM cluster with its accounting database. Nothing is
mocked; where the programs are missing the tests skip, saying which program and which Debian package brings it
(.ci/run installs them)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path | None:
    """Debian installs the server's programs under /usr/lib/postgresql/<version>/bin, off the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: CI's root runs it as the `postgres` user the package created."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run_or_say(command: list[str], timeout: int = 120) -> None:
    """Run a set-up command; when it fails, the error carries the end of what it printed, not only its status."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        said = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"{command[0]} exited with {done.returncode}:\n{said}")


@contextlib.contextmanager
def postgres_server(password: str | None = None) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server on a free local port with a database `optlab`, in a folder of its own under /tmp (the
    server's user must reach it; pytest's folders are private to the test's user); yields (its SQLAlchemy URL, the
    data folder, for pg_ctl). With `password`, the user has it and a TCP connection must give it (scram-sha-256, as
    a shared server asks), and the URL carries it. Skips the test when the server's programs or psycopg are
    missing."""
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL's initdb is missing: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install 'optlab[postgres]'")
    folder = Path(tempfile.mkdtemp(prefix="optlab-postgres-"))
    data = folder / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()

    def run(program: str, *args: str) -> None:
        _run_or_say(_as_server_user([str(binaries / program), *args]))

    auth = ["--auth=trust"]
    if password is not None:
        pwfile = folder / "password"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres")
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
    run("initdb", "-D", str(data), "-U", "postgres", *auth, "-E", "UTF8")
    settings = data / "postgresql.auto.conf"  # so that pg_ctl start needs no options, here and in pg_ctl() below
    settings.write_text(f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{folder}'\n"
                        f"logging_collector = off\n")
    if os.geteuid() == 0:
        shutil.chown(settings, "postgres")
    pg_ctl(data, "start")
    try:
        run("createdb", "-h", str(folder), "-p", str(port), "-U", "postgres", "optlab")  # the socket: no password
        user = "postgres" if password is None else f"postgres:{quote(password, safe='')}"
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/optlab", data
    finally:
        pg_ctl(data, "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def pg_ctl(data: Path, action: str, check: bool = True) -> None:
    """Start or stop the server of postgres_server (by its data folder), also in the middle of a test."""
    command = [str(postgres_bin() / "pg_ctl"), "-D", str(data), "-w", "-l", str(data.parent / "server.log")]
    command += ["-m", "fast", action] if action == "stop" else [action]
    subprocess.run(_as_server_user(command), check=check, capture_output=True, timeout=120)


SLURM_PROGRAMS = {"munged": "munge", "slurmctld": "slurmctld", "slurmd": "slurmd", "sbatch": "slurm-client",
                  "slurmdbd": "slurmdbd", "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server"}
SLURM_CONF = """ClusterName=optlab
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={dbd_port}
AccountingStoragePass={folder}/munge.socket
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SwitchType=switch/none
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
SLURMDBD_CONF = """AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
DbdHost=localhost
DbdPort={dbd_port}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={folder}/slurmdbd.pid
LogFile={folder}/slurmdbd.log
"""


def _memory_mb() -> int:
    total_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:"))
    return total_kb // 1024 - 512  # slurmd refuses a node whose RealMemory is above what it finds


@contextlib.contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """A one-node SLURM cluster on this machine, as a site runs one: munged, a MariaDB server holding slurmdbd's
    accounting (what `sacct` reads, and submitit with it to learn that a job was cancelled), slurmctld and slurmd
    with a generated slurm.conf naming this machine's CPUs and memory, the account `optlab` with root in it
    (associations enforced: another account is refused), all in a folder of their own. Yields the environment its
    clients need (SLURM_CONF). Skips the test where a program is missing or the test does not run as root (the
    daemons do; CI runs as root)."""
    missing = [f"{program} (apt-get install {package})" for program, package in SLURM_PROGRAMS.items()
               if shutil.which(program) is None]
    if missing:
        pytest.skip(f"SLURM is missing: {', '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip("a local SLURM cluster runs its daemons as root: run the tests as root (CI does)")
    folder = Path(tempfile.mkdtemp(prefix="optlab-slurm-"))
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    ports = {"ctld_port": free_port(), "slurmd_port": free_port(), "dbd_port": free_port(), "db_port": free_port()}
    conf = folder / "slurm.conf"  # slurmdbd reads slurmdbd.conf beside it
    conf.write_text(SLURM_CONF.format(host=socket.gethostname(), folder=folder, cpus=os.cpu_count(),
                                      memory_mb=_memory_mb(), **ports))
    (folder / "slurmdbd.conf").write_text(SLURMDBD_CONF.format(folder=folder, **ports))
    (folder / "slurmdbd.conf").chmod(0o600)  # slurmdbd refuses a readable one: it may hold the database password
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons: list[subprocess.Popen] = []
    try:
        _start_munged(folder)
        daemons.append(_start_mariadb(folder, ports["db_port"]))
        daemons.append(_daemon(["slurmdbd", "-D"], env, folder))
        _sacctmgr(env, "add", "cluster", "optlab")
        _sacctmgr(env, "add", "account", "optlab")
        _sacctmgr(env, "add", "user", "root", "account=optlab", "defaultaccount=optlab")
        daemons += [_daemon([daemon, "-D"], env, folder) for daemon in ("slurmctld", "slurmd")]
        _wait_for_idle_node(env, folder)
        yield env
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True, timeout=60)
        for daemon in reversed(daemons):
            daemon.terminate()
            daemon.wait(timeout=60)
        subprocess.run(["munged", f"--socket={folder}/munge.socket", "--stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _start_munged(folder: Path) -> None:
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    _run_or_say(["munged", "--force", f"--key-file={key}", f"--socket={folder}/munge.socket",
                 f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log",
                 f"--seed-file={folder}/munged.seed"], timeout=60)


def _start_mariadb(folder: Path, port: int) -> subprocess.Popen:
    """A MariaDB server for slurmdbd, with a temporary folder of its own. Twice (stop 45's CI, a fresh-clone run on
    2026-12-07) the bootstrap's temporary tables vanished from the shared /tmp mid-way ("Could not remove temporary
    table '/tmp/#sql-temptable-...', error: 2", then "Unknown table 'mysql.tmp_proxies_priv'"); what deleted them
    was not found, but a MariaDB starting with /tmp as its tmpdir deletes every `#sql*` file there (measured), so
    each keeps its own. InnoDB's native AIO is off: its io_setup slots are counted host-wide (fs.aio-max-nr) on a CI
    host, and a small accounting database loses nothing by simulated AIO."""
    data, tmp = folder / "mariadb", folder / "mariadb-tmp"
    tmp.mkdir()
    _run_or_say(["mariadb-install-db", "--no-defaults", f"--datadir={data}", f"--tmpdir={tmp}", "--user=root",
                 "--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-use-native-aio=0"])
    server = subprocess.Popen(["mariadbd", "--no-defaults", f"--datadir={data}", f"--tmpdir={tmp}",
                               f"--socket={folder}/mariadb.sock",
                               f"--port={port}", "--bind-address=127.0.0.1", "--user=root",
                               "--innodb-use-native-aio=0", f"--pid-file={folder}/mariadb.pid",
                               f"--log-error={folder}/mariadb.err"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    raise RuntimeError(f"MariaDB did not come up; see {folder}/mariadb.err")


def _daemon(command: list[str], env: dict[str, str], folder: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(folder / f"{command[0]}.err", "w"))


def _sacctmgr(env: dict[str, str], *args: str) -> None:
    """sacctmgr once slurmdbd answers (it takes a moment to create its tables)."""
    deadline = time.time() + 60
    while True:
        done = subprocess.run(["sacctmgr", "-i", *args], env=env, capture_output=True, text=True, timeout=60)
        if done.returncode == 0 or time.time() > deadline:
            break
        time.sleep(0.5)
    if done.returncode != 0:
        raise RuntimeError(f"sacctmgr {' '.join(args)}: {done.stderr.strip()}")


def _wait_for_idle_node(env: dict[str, str], folder: Path) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        state = subprocess.run(["sinfo", "--noheader", "--format=%T"], env=env, capture_output=True, text=True)
        if state.stdout.strip() == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError(f"the local SLURM node did not come up; see {folder}/slurmctld.log and slurmd.log")
