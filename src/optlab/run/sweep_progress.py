"""A sweep's console: one line per finished run, with a counter over the sweep and an estimate of the time left.

`[12/36] adam_seed2: ok, val 97.30% after 5 epochs, 4.1 s; about 3 min left`

A multirun's jobs run in other processes (joblib's workers, SLURM jobs), and none of them sees the others. So the
launching process writes the plan (how many jobs, when it started) into the sweep folder when the multirun starts,
and each job, when it ends, counts the runs of the sweep that have ended (their summary.json) and prints its line.
The estimate divides the time since the start by the runs ended since then (parallel workers included) and
multiplies by the runs left; runs that had ended before a resumed sweep started count as done but not in the rate.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from optlab.run.summary import RunSummary, Status, SummaryError, epochs_text

PLAN_FILE = "sweep_progress.json"
LOGGER = "optlab.sweep"  # its records reach a multirun's console; other INFO records only the run's train.log
log = logging.getLogger(LOGGER)

def command_line_overrides(config: DictConfig) -> list[str]:
    """The multirun's overrides as typed: an interpolation in one (`trainer.x=${...}`) is the job's to resolve."""
    return [str(item) for item in OmegaConf.to_container(config.hydra.overrides.task, resolve=False)]


def planned_jobs(config: DictConfig) -> int | None:
    """How many jobs the multirun launches: the product of the swept values for Hydra's basic sweeper, n_trials
    for a search (hparams_search); None when that cannot be known beforehand."""
    sweeper = config.hydra.sweeper
    if "n_trials" in sweeper:
        return int(sweeper.n_trials)
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    jobs = 1
    for override in parser.parse_overrides([*params, *command_line_overrides(config)]):
        if override.is_sweep_override():
            jobs *= len(list(override.sweep_string_iterator()))
    return jobs


def write_plan(sweep_dir: Path, jobs: int | None) -> None:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / PLAN_FILE).write_text(json.dumps({"jobs": jobs, "started": time.time()}))


def announce_run_end(run_dir: Path, summary: RunSummary) -> None:
    """Print this run's line; nothing when the run is not part of a planned sweep."""
    plan_path = run_dir.parent / PLAN_FILE
    if not plan_path.is_file():
        return
    plan = json.loads(plan_path.read_text())
    ended, ended_since_start = _ended_runs(run_dir.parent, plan["started"])
    log.info("%s", progress_line(summary, run_dir.name.split("_", 1)[-1], ended, ended_since_start, plan["jobs"],
                                 time.time() - plan["started"]))


def outcome_text(summary: RunSummary | None) -> str:
    """A run's outcome as every progress line says it (a sweep's, a tune worker's): its status, then the validation
    accuracy it ended with and after how many epochs (ok, pruned), or why it stopped (diverged, skipped, failed).
    None: a cluster job that ended without a result."""
    if summary is None:
        return str(Status.FAILED)
    parts = [str(summary.status)]
    if summary.status in (Status.OK, Status.PRUNED) and math.isfinite(summary.val_acc):
        parts.append(f"val {summary.val_acc:.2%} after {epochs_text(summary.epochs_trained)}")
    elif summary.status != Status.RUNNING and summary.reason:
        parts.append(summary.reason)
    return ", ".join(parts)


def progress_line(summary: RunSummary, name: str, ended: int, ended_since_start: int, jobs: int | None,
                  elapsed_s: float) -> str:
    """`[12/36] adam_seed2: ok, val 97.30% after 5 epochs, 4.1 s; about 3 min left`"""
    counter = f"[{ended}/{jobs}]" if jobs else f"[{ended}]"
    took = f", {summary.train_time_s:.1f} s" if math.isfinite(summary.train_time_s) else ""
    line = f"{counter} {name}: {outcome_text(summary)}{took}"
    if jobs and ended_since_start and jobs > ended:
        line += f"; about {_duration(elapsed_s / ended_since_start * (jobs - ended))} left"
    return line


def _ended_runs(sweep_dir: Path, started: float) -> tuple[int, int]:
    """(runs of the sweep that have ended, of which since `started`)."""
    ended = since = 0
    for path in sweep_dir.glob("*/summary.json"):
        try:
            status = RunSummary.read(path.parent).status
        except SummaryError:
            continue
        if status != Status.RUNNING:
            ended += 1
            since += path.stat().st_mtime >= started
    return ended, since


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
