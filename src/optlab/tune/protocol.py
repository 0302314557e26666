"""The protocol's steps, each an `optlab.train -m` run of its own (Hydra's sweeper and launcher do the work):

1. per optimizer, the search (conf/hparams_search/<search>) with `budget` trials on `search_seed`;
2. per optimizer, the trial with the best validation accuracy rerun on the fresh seeds (and, with defaults_too,
   the config default on the same seeds, so default vs tuned is a paired comparison);
3. the report (optlab.tune.tuning_report).

Every step runs with resume=true into its own folder under `out`: a step that already finished is skipped by
optlab.train's resume, one that was interrupted continues, and a seeded search proposes the same trials again,
so an interrupted protocol, rerun with resume=true, repeats no finished run.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from optlab.summary import write_atomic
from optlab.tune.lr_finder import find_lr_range
from optlab.tune.settings import TuneError, TuneSettings, check_same_protocol
from optlab.tune.trials import SearchResult, read_search

log = logging.getLogger(__name__)
RECORD = "tune.json"
T = TypeVar("T")


def folder_name(optimizer: str) -> str:
    return optimizer.replace("/", "-")


def run_protocol(settings: TuneSettings) -> None:
    """Steps 1 and 2 for every optimizer, in its folders under settings.out; wall times go to tune.json."""
    record = _open_record(settings)
    for optimizer in settings.optimizers:
        result = _timed(record, settings, f"search {optimizer}", lambda o=optimizer: search(settings, o))
        chosen = result.best
        if chosen is None:
            log.warning("%s: no trial finished (%s); nothing to rerun", optimizer, result.why_none)
            continue
        chosen_overrides = [f"{key}={value}" for key, value in chosen.params.items()]
        if not chosen_overrides:  # a rerun would silently repeat the default instead of the chosen setting
            raise TuneError(f"the search of {optimizer} set nothing its trials record (hydra.sweeper.params empty?)")
        log.info("%s: %s chosen (validation accuracy %.4f); rerunning on seeds %s", optimizer,
                 " ".join(chosen_overrides), chosen.objective, settings.rerun_seeds)
        _timed(record, settings, f"rerun {optimizer}",
               lambda o=optimizer, chosen=chosen_overrides: rerun(settings, o, "tuned", chosen))
        if settings.defaults_too:
            _timed(record, settings, f"default {optimizer}", lambda o=optimizer: rerun(settings, o, "default", []))


def search(settings: TuneSettings, optimizer: str) -> SearchResult:
    folder = settings.out / "search" / folder_name(optimizer)
    lr_range = []
    if settings.lr_find["enabled"]:
        low, high = find_lr_range(settings, optimizer, folder / "lr_find")
        lr_range = [f"search.lr_range=[{low!r},{high!r}]"]
    train(settings, folder, [
        f"hparams_search={settings.search}", f"optimizer={optimizer}", *lr_range,
        f"seed={settings.search_seed}", f"hydra.sweeper.n_trials={settings.budget}",
        f"hydra.sweeper.sampler.n_startup_trials={max(1, settings.budget // 2)}",
        f"hydra.sweeper.n_jobs={settings.jobs}",
    ], what=f"the search of {optimizer}")
    return read_search(folder, optimizer)


def rerun(settings: TuneSettings, optimizer: str, kind: str, overrides: list[str]) -> None:
    seeds = ",".join(str(s) for s in settings.rerun_seeds)
    train(settings, settings.out / kind / folder_name(optimizer), [f"optimizer={optimizer}", *overrides,
                                                                    f"seed={seeds}"],
          what=f"the {kind} reruns of {optimizer}")


def launcher_overrides(settings: TuneSettings) -> list[str]:
    """Parallel runs through Hydra's joblib launcher, unless the command line chose a launcher itself."""
    if settings.jobs == 1 or any(o.startswith("hydra/launcher=") for o in settings.train_overrides):
        return []
    return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={settings.jobs}", "torch_threads=1"]


def train(settings: TuneSettings, folder: Path, overrides: list[str], what: str) -> None:
    """One `optlab.train -m` into `folder`; its own report is skipped (the protocol writes one at the end). A job
    whose finished run resume=true refuses (another config) stops it: a search would otherwise go on with new
    trials in place of the refused ones, and a rerun folder keep another config's results."""
    command = [sys.executable, "-m", "optlab.train", "-m", *settings.train_overrides, *overrides,
               *launcher_overrides(settings), f"hydra.sweep.dir={folder}", "report.enabled=false", "resume=true",
               "resume_refused=stop"]
    log.info("%s: %s", what, " ".join(command[2:]))
    if subprocess.run(command).returncode != 0:
        raise TuneError(f"{what} stopped (its error is above); fix it, then continue with resume=true "
                        f"out={settings.out}")


def _open_record(settings: TuneSettings) -> dict:
    path = settings.out / RECORD
    if settings.resume and path.is_file():
        record = json.loads(path.read_text())
        check_same_protocol(record["protocol"], settings)
        return record
    return {"protocol": json.loads(json.dumps(settings.protocol(), default=str)), "wall_time_s": {}}


def _timed(record: dict, settings: TuneSettings, step: str, work: Callable[[], T]) -> T:
    """Run a step, adding its wall time to tune.json (across resumes: the sum of every attempt)."""
    started = time.perf_counter()
    try:
        return work()
    finally:
        times = record["wall_time_s"]
        times[step] = times.get(step, 0.0) + time.perf_counter() - started
        write_atomic(settings.out / RECORD, json.dumps(record, indent=2) + "\n")
