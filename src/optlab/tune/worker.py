"""One worker of a protocol (hydra/sweeper=optlab_tune_worker, started by optlab.tune): take the next run under the
claim lock, run it through the launcher while beating Optuna's heartbeat for its trial, tell the outcome, repeat
until the protocol is done. Any number of workers, on any machine that sees the protocol's folder and storage."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException
from omegaconf import DictConfig

from optlab.run.console import tidy_console
from optlab.run.resume import RunInterrupted
from optlab.run.summary import RunSummary
from optlab.run.sweep_progress import LOGGER, outcome_text
from optlab.tune.run_cache import CACHED_STAGES, RunCache, reuse
from optlab.tune.search.outcome import job_summary, tell
from optlab.tune.search.storage import StorageError, default_url, lost, open_storage, trial_id
from optlab.tune.settings import TuneSettings
from optlab.tune.work_queue import STAGES, Item, WorkQueue

RECORD = "tune.json"
LOCK = ".claim.lock"
CLAIMED = "optlab:claimed"  # a trial's system attribute: its own number, once the worker that took it has beaten
IDLE_POLL_S = 2.0  # how often a worker with nothing to take looks again
log = logging.getLogger(LOGGER)


def load_work_queue(out: Path) -> WorkQueue:
    record = json.loads((out / RECORD).read_text())
    settings = TuneSettings.from_record(record["settings"])
    url = settings.storage or default_url(out)
    return WorkQueue(settings, open_storage(url, settings.heartbeat), url, record["spaces"])


@contextlib.contextmanager
def claim_lock(out: Path) -> Iterator[None]:
    """One worker at a time chooses and takes a trial (an advisory lock on a file in the protocol's folder)."""
    with open(out / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int, interval_s: float) -> Iterator[None]:
    """Beat for the trial while its run goes on; a worker killed mid-run stops beating, and after the grace period
    any worker fails the trial and queues it again."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a storage away for a moment: the next beat tries again, and
                storage.record_heartbeat(trial_id)  # the worker's own next call says it in one line if it stays away
            if stop.wait(interval_s):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class StorageLost(CompactHydraException):
    """The storage stopped answering; Hydra prints the message alone and the worker exits non-zero."""


def work(protocol: str, launcher: Any, arguments: list[str], compose: Callable[[list[str]], DictConfig]) -> None:
    """Work until the protocol is done. `compose`: a run's whole config from its overrides, as the launcher will
    build it (what the run cache computes a run's identity from)."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    out = Path(protocol)
    try:
        queue = load_work_queue(out)
    except StorageError as error:  # away as the worker starts: optlab.tune starts it again a few times
        raise StorageLost(str(error)) from None
    try:
        _work(out, queue, launcher, arguments, compose)
    except (SQLAlchemyError, StorageInternalError) as error:  # Optuna wraps some of SQLAlchemy's in its own
        raise StorageLost(lost(queue.storage_url, error, out)) from None


def _work(out: Path, queue: WorkQueue, launcher: Any, arguments: list[str],
          compose: Callable[[list[str]], DictConfig]) -> None:
    interval = queue.settings.heartbeat["interval_s"]
    cache = RunCache([Path(folder) for folder in queue.settings.cache])
    while True:
        with claim_lock(out):
            recover_orphans(queue)
            item, done = queue.next_item()
            if item is not None:  # beating from the moment it is taken: a trial never runs without a heartbeat
                queue.storage.record_heartbeat(item.trial_id)
                queue.storage.set_trial_system_attr(item.trial_id, CLAIMED, item.trial.number)
                queue.storage.set_trial_user_attr(item.trial_id, "folder", item.folder)  # where its records are
        if done:
            return
        if item is None:
            time.sleep(IDLE_POLL_S)
            continue
        if queue.settings.cache and item.stage in CACHED_STAGES:
            found = reuse(cache, compose([*arguments, *item.overrides]))
            if found.folder is not None:
                summary = RunSummary.read(found.folder)
                tell(item.study, item.trial, summary, 0.0, reused_from=found.folder)
                log.info("%s (reused: %s)", progress_line(item, summary), found.folder)
                continue
            if found.why_not:
                log.info("%s %s %s: runs; not reused: %s", item.stage, item.optimizer, item.label, found.why_not)
        started = time.perf_counter()
        with heartbeat(queue.storage, item.trial_id, interval):
            try:
                (job_return,) = launcher.launch([[*arguments, *item.overrides]], initial_job_idx=item.trial.number)
            except RunInterrupted:  # its own hint (this worker's sweep folder) would not continue the protocol
                raise SystemExit(f"optlab.tune: stopped during {item.stage} {item.optimizer} {item.label}, its run "
                                 f"saved; continue the protocol with resume=true out={out}") from None
        if job_return.hydra_cfg is None:  # a cluster job lost (hydra/launcher=slurm has said which): not the
            log.warning("%s %s %s: its job ended without a result; it runs again once its heartbeat is stale",
                        item.stage, item.optimizer, item.label)  # setting's fault, so it is not told: retried
            continue
        summary = job_summary(job_return)
        tell(item.study, item.trial, summary, time.perf_counter() - started)
        tidy_console(multirun=True)  # each launch restores Hydra's console format; progress lines go out bare
        log.info("%s", progress_line(item, summary))


def recover_orphans(queue: WorkQueue) -> None:
    """Call it holding the claim lock. A worker killed inside its claim (the lock is freed with it) can leave a trial
    that Optuna's heartbeat alone never retries: one taken (RUNNING) but never beaten for, which is never stale, so
    the protocol would wait for it forever; or one failed as stale whose retry was not queued yet. Every claim ends
    with the taker's beat and CLAIMED, so under the lock a RUNNING trial without CLAIMED is such an orphan: it gets
    one beat, and is failed and retried once grace_s has passed; a failed one without a retry gets its retry (the
    heartbeat's callback, which still gives up after heartbeat.retries)."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    retry = queue.storage.get_heartbeat_stale_trial_callback()
    suspects = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL)
    for optimizer in queue.settings.optimizers:
        for stage in STAGES:
            study = queue.study(optimizer, stage)
            # Only running and failed trials can be orphans: the storage filters them (at every claim, for every
            # study), and the whole study is read only when a failed one asks whether it was retried already.
            trials = study.get_trials(deepcopy=False, states=suspects)
            if any(t.state == optuna.trial.TrialState.FAIL for t in trials):
                retried = {n for t in study.get_trials(deepcopy=False)
                           for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
            else:
                retried = set()
            for trial in trials:
                if trial.state == optuna.trial.TrialState.RUNNING and trial.system_attrs.get(CLAIMED) != trial.number:
                    log.warning("%s: trial %d was taken by a worker that died before beating for it; it is retried "
                                "once heartbeat.grace_s has passed", study.study_name, trial.number)
                    tid = trial_id(queue.storage, study.study_name, trial.number)
                    queue.storage.record_heartbeat(tid)
                    queue.storage.set_trial_system_attr(tid, CLAIMED, trial.number)
                elif trial.state == optuna.trial.TrialState.FAIL and trial.number not in retried:
                    retry(study, copy.deepcopy(trial))


def progress_line(item: Item, summary: RunSummary | None) -> str:
    """`search adam 003_adam_lr0.0042: pruned, val 85.10% after 1 epoch`"""
    return f"{item.stage} {item.optimizer} {item.label}: {outcome_text(summary)}"
