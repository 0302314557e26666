"""The protocol's coordinator (`python -m optlab.tune`): it checks and records the protocol, works out each
optimizer's search space (after the learning-rate finder, when asked), opens the storage, queues what is known
at the start, then starts `workers` processes and waits for them. The workers (optlab.tune.worker) do the runs;
what they run next is optlab.tune.work_queue's.

A worker is `python -m optlab.train -m hydra/sweeper=optlab_tune_worker ...`: each of its runs is an ordinary
optlab.train job in its own folder under `out` (search/, selection/, tuned/, default/), run by Hydra's launcher.
A worker that dies (SIGKILL, out of memory, its storage away for a while) is started again while the others go on,
and the run it left is run again from its checkpoint after the heartbeat's grace period; only a worker that keeps
dying stops the protocol. Everything the protocol knows is in its storage and folders, so `resume=true out=<folder>`
continues a stopped one: finished runs are kept.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.errors import HydraException
from omegaconf import OmegaConf

from optlab.config.compose import optlab_configs
from optlab.files import first_line, write_atomic
from optlab.tune.lr_finder import find_lr_range
from optlab.tune.search.storage import StorageError, default_url, lost, open_storage, shown
from optlab.tune.settings import TuneError, TuneSettings, check_same_protocol
from optlab.tune.work_queue import WorkQueue, folder_name
from optlab.tune.worker import RECORD

log = logging.getLogger(__name__)
WORKER_STOP_S = 60  # how long stopped workers get to write their runs' summaries before they are killed


def prepare_data(settings: TuneSettings) -> None:
    """The protocol's data fetched once, before any worker starts (where data.download asks for it): workers that
    started together would each download into the same folder and read each other's half-written files, and a
    machine that cannot download should hear it in one line, not from every trial failing in turn."""
    from hydra.utils import instantiate

    from optlab.config.compose import compose_config
    from optlab.data.sources import DataError

    first = settings.config_of(settings.optimizers[0])
    cfg = compose_config("train", [*settings.train_overrides, f"optimizer={first}"])
    try:
        instantiate(cfg.data).prepare_data()
    except DataError as error:
        raise TuneError(f"data={cfg.data.name}: {error}") from None


def check_custom_optimizers(settings: TuneSettings) -> None:
    """A custom/any optimizer's class and keys come from the command line: checked once here, in one line, rather
    than by every trial failing in turn (optlab.optim.contract, as each run also checks it)."""
    from optlab.config.checks import ConfigError
    from optlab.config.compose import compose_config
    from optlab.optim.contract import check_optimizer

    for name, config in settings.configs.items():
        cfg = compose_config("train", [*settings.train_overrides, f"optimizer={config}"])
        missing = [key for key in ("_target_", "lr") if OmegaConf.is_missing(cfg.optimizer, key)]
        if missing:
            raise TuneError(f"optimizer={config} needs optimizer.{missing[0]}= (your class, and the lr the search is "
                            "centred on), e.g. optimizer._target_=my_optim.SignSGD optimizer.lr=0.001")
        try:
            check_optimizer(cfg.optimizer, name, settings.train_overrides)
        except ConfigError as error:
            raise TuneError(str(error)) from None


def run_protocol(settings: TuneSettings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    url = settings.storage or default_url(settings.out)
    try:
        _run(settings, url)
    except SQLAlchemyError as error:
        raise TuneError(lost(url, error, settings.out)) from None


def _run(settings: TuneSettings, url: str) -> None:
    settings.out.mkdir(parents=True, exist_ok=True)
    record = _open_record(settings)
    try:
        storage = open_storage(url, settings.heartbeat)
    except StorageError as error:
        raise TuneError(str(error)) from None
    queue = WorkQueue(settings, storage, url, spaces={})
    queue.prepare()  # refuses a study of another protocol before any run
    prepare_data(settings)  # after the storage: a storage that cannot be opened is said before any download
    started = time.perf_counter()
    ranges = {o: _lr_find(settings, o) for o in settings.optimizers} if settings.lr_find["enabled"] else {}
    record["wall_time_s"]["lr_find"] = record["wall_time_s"].get("lr_find", 0.0) + time.perf_counter() - started
    record["spaces"] = {o: search_params(settings, o, ranges.get(o)) for o in settings.optimizers}
    record["settings"] = settings.to_record()
    _write(settings, record)
    log.info("%d optimizers, %d worker(s); the studies: %s", len(settings.optimizers), settings.workers, shown(url))
    before, started = record["wall_time_s"].get("workers", 0.0), time.perf_counter()

    def record_wall_time() -> None:
        record["wall_time_s"]["workers"] = before + time.perf_counter() - started
        _write(settings, record)

    try:
        run_workers(settings, record_wall_time)
    finally:
        record_wall_time()
    record["costs"] = queue.costs()  # per optimizer and stage: runs, pruned, epochs, wall time
    _write(settings, record)


def search_params(settings: TuneSettings, optimizer: str, lr_range: tuple[float, float] | None) -> dict[str, str]:
    """hydra.sweeper.params of conf/hparams_search/<search> for this optimizer, resolved (its lr range filled in)."""
    overrides = [*settings.train_overrides, f"hparams_search={settings.search}",
                 f"optimizer={settings.config_of(optimizer)}"]
    if lr_range is not None:
        overrides.append(f"search.lr_range=[{lr_range[0]!r},{lr_range[1]!r}]")
    try:
        with optlab_configs():
            cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
            params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True)
    except HydraException as error:
        raise TuneError(f"search={settings.search} for {optimizer}: {first_line(error)}") from None
    if not params:
        raise TuneError(f"conf/hparams_search/{settings.search}.yaml searches nothing (hydra.sweeper.params is empty)")
    return {str(k): str(v) for k, v in params.items()}


def _lr_find(settings: TuneSettings, optimizer: str) -> tuple[float, float]:
    return find_lr_range(settings, optimizer, settings.out / "search" / folder_name(optimizer) / "lr_find")


def worker_command(settings: TuneSettings, index: int) -> list[str]:
    """Its base config holds the first optimizer (each run names its own): custom/any's overrides need it there."""
    threads = ["torch_threads=1"] if settings.workers > 1 else []
    first = f"optimizer={settings.config_of(settings.optimizers[0])}"
    return [sys.executable, "-m", "optlab.train", "-m", *settings.train_overrides, first, f"pruner={settings.pruner}",
            *threads, "report.enabled=false", "resume=true", "resume_refused=stop",
            "hydra/sweeper=optlab_tune_worker", f"hydra.sweeper.protocol={settings.out.resolve()}",
            f"hydra.sweep.dir={settings.out.resolve() / 'workers' / str(index)}"]


@dataclass
class Slot:
    """One of the `workers` places: the worker process in it, and how it has been dying."""

    index: int
    process: subprocess.Popen | None = None  # None until it is started, and while it waits to start again
    start_at: float = 0.0  # time.monotonic() at which it is started (again)
    deaths: int = 0  # in a row: no run of the protocol finished between them
    runs_at_death: int = 0  # the protocol's finished runs when it last died


def run_workers(settings: TuneSettings, record_wall_time: Callable[[], None]) -> None:
    """Start the workers and keep them going until the protocol is done: a worker that dies is started again while
    the others go on, and one that keeps dying (supervisor.restarts) stops them all, as Ctrl-C and SIGTERM do (their
    runs resume later). The wall time so far is recorded every heartbeat.interval_s: a protocol killed outright
    (SIGKILL, the machine's end) loses no more of it than that, where it once lost the whole sitting."""
    slots = [Slot(index) for index in range(settings.workers)]
    every = float(settings.heartbeat["interval_s"])
    recorded = time.monotonic()
    try:
        while not _done(slots):
            for slot in slots:
                _tend(settings, slot)
            if time.monotonic() - recorded >= every:
                record_wall_time()
                recorded = time.monotonic()
            time.sleep(1.0)
    except (KeyboardInterrupt, TuneError):
        _stop([slot.process for slot in slots if slot.process is not None])
        raise


def _done(slots: list[Slot]) -> bool:
    """A worker ends with 0 only when the whole protocol is done; then no worker is started again, and the protocol
    ends once none runs any more."""
    running = any(s.process is not None and s.process.poll() is None for s in slots)
    return not running and any(s.process is not None and s.process.returncode == 0 for s in slots)


def _tend(settings: TuneSettings, slot: Slot) -> None:
    """Start the slot's worker when it is due; when it has died, count the death and plan its restart, or raise
    TuneError when it keeps dying."""
    if slot.process is None:
        if time.monotonic() >= slot.start_at:
            slot.process = subprocess.Popen(worker_command(settings, slot.index))
        return
    code = slot.process.poll()
    if code is None or code == 0:
        return
    slot.process = None
    runs = finished_runs(settings.out)
    slot.deaths = 1 if runs > slot.runs_at_death else slot.deaths + 1
    slot.runs_at_death = runs
    restarts = int(settings.supervisor["restarts"])
    if slot.deaths > restarts:
        raise TuneError(f"worker {slot.index} died {slot.deaths} times in a row with no run finished in between "
                        f"(supervisor.restarts={restarts}), and {ended(code)} the last time; fix what stops it, then "
                        f"continue with resume=true out={settings.out}")
    delay = float(settings.supervisor["delay_s"]) * 2 ** (slot.deaths - 1)
    slot.start_at = time.monotonic() + delay
    log.warning("worker %d %s; starting it again in %g s (a run it left is retried once heartbeat.grace_s has "
                "passed)", slot.index, ended(code), delay)


def ended(code: int) -> str:
    """How a worker process ended: `was killed by SIGKILL` for a negative return code (the kernel's out-of-memory
    killer sends SIGKILL too, and leaves no error behind), `exited with code 1 (its error is above)` otherwise."""
    if code >= 0:
        return f"exited with code {code} (its error is above)"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:  # a real-time signal has no name
        return f"was killed by signal {-code}"


def finished_runs(out: Path) -> int:
    """The protocol's runs that ended (out/<stage>/<optimizer>/<run>/summary.json, written once a run ends): whether
    it got on between two deaths of a worker. Read from the folders, not the storage, which may be what is away."""
    return sum(1 for _ in out.glob("*/*/*/summary.json"))


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()  # Lightning saves what the run has and marks it interrupted
    deadline = time.time() + WORKER_STOP_S
    for worker in workers:
        try:
            worker.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            worker.kill()


def _open_record(settings: TuneSettings) -> dict[str, Any]:
    path = settings.out / RECORD
    if settings.resume and path.is_file():
        record = json.loads(path.read_text())
        check_same_protocol(record["protocol"], settings)
        return record
    return {"protocol": settings.protocol(), "wall_time_s": {}}


def _write(settings: TuneSettings, record: dict[str, Any]) -> None:
    write_atomic(settings.out / RECORD, json.dumps(record, indent=2) + "\n")
