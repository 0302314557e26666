"""The protocol's coordinator (`python -m optlab.tune`): it checks and records the protocol, works out each
optimizer's search space (after the learning-rate finder, when asked), opens the storage, queues what is known
at the start, then starts `workers` processes and waits for them. The workers (optlab.tune.worker) do the runs;
what they run next is optlab.tune.work_queue's.

A worker is `python -m optlab.train -m hydra/sweeper=optlab_tune_worker ...`: each of its runs is an ordinary
optlab.train job in its own folder under `out` (search/, selection/, tuned/, default/), run by Hydra's launcher.
Everything the protocol knows is in its storage and folders, so `resume=true out=<folder>` continues it: finished
runs are kept, a run a killed worker left is run again from its checkpoint after the heartbeat's grace period.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
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
    started = time.perf_counter()
    ranges = {o: _lr_find(settings, o) for o in settings.optimizers} if settings.lr_find["enabled"] else {}
    record["wall_time_s"]["lr_find"] = record["wall_time_s"].get("lr_find", 0.0) + time.perf_counter() - started
    record["spaces"] = {o: search_params(settings, o, ranges.get(o)) for o in settings.optimizers}
    record["settings"] = settings.to_record()
    _write(settings, record)
    log.info("%d optimizers, %d worker(s); the studies: %s", len(settings.optimizers), settings.workers, shown(url))
    started = time.perf_counter()
    try:
        run_workers(settings)
    finally:
        record["wall_time_s"]["workers"] = record["wall_time_s"].get("workers", 0.0) + time.perf_counter() - started
        _write(settings, record)
    record["costs"] = queue.costs()  # per optimizer and stage: runs, pruned, epochs, wall time
    _write(settings, record)


def search_params(settings: TuneSettings, optimizer: str, lr_range: tuple[float, float] | None) -> dict[str, str]:
    """hydra.sweeper.params of conf/hparams_search/<search> for this optimizer, resolved (its lr range filled in)."""
    overrides = [*settings.train_overrides, f"hparams_search={settings.search}", f"optimizer={optimizer}"]
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
    threads = ["torch_threads=1"] if settings.workers > 1 else []
    return [sys.executable, "-m", "optlab.train", "-m", *settings.train_overrides, f"pruner={settings.pruner}",
            *threads, "report.enabled=false", "resume=true", "resume_refused=stop",
            "hydra/sweeper=optlab_tune_worker", f"hydra.sweeper.protocol={settings.out.resolve()}",
            f"hydra.sweep.dir={settings.out.resolve() / 'workers' / str(index)}"]


def run_workers(settings: TuneSettings) -> None:
    """Start the workers and wait; if one stops with an error, stop the others (their runs resume later)."""
    workers = [subprocess.Popen(worker_command(settings, i)) for i in range(settings.workers)]
    try:
        while True:
            codes = [w.poll() for w in workers]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                _stop(workers)
                raise TuneError(f"worker {failed[0]} stopped with exit code {codes[failed[0]]} (its error is above); "
                                f"fix it, then continue with resume=true out={settings.out}")
            if all(code == 0 for code in codes):
                return
            time.sleep(1.0)
    except KeyboardInterrupt:
        _stop(workers)
        raise


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
