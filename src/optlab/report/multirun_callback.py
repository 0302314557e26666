"""Hydra callback for multiruns: tells the jobs which keys the sweep varies (their folder names) and how many jobs
there are (their console lines count them), and when the multirun ends writes its report into the sweep folder and
fails loudly on failed runs."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from optlab.config.run_identity import SWEPT_KEYS_ENV, swept_keys
from optlab.run.summary import RunSummary, Status, SummaryError
from optlab.run.sweep_progress import command_line_overrides, planned_jobs, write_plan

log = logging.getLogger(__name__)


class ReportOnMultirunEnd(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Jobs name their folders after the swept keys; they learn them from the environment, which the
        joblib launcher's workers and submitit's cluster jobs inherit."""
        if _is_tune_worker(config):  # it names its runs and prints their lines
            return
        params = config.hydra.sweeper.get("params") or {}
        os.environ[SWEPT_KEYS_ENV] = ",".join(swept_keys(command_line_overrides(config), dict(params)))
        jobs = planned_jobs(config)
        write_plan(Path(config.hydra.sweep.dir), jobs)
        print(f"sweep: {jobs if jobs is not None else 'an unknown number of'} runs into {config.hydra.sweep.dir}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if _is_tune_worker(config):  # its runs are the protocol's, reported by optlab.tune
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        summaries = {folder: _read(folder) for folder in sorted(p.parent for p in sweep_dir.glob("*/summary.json"))}
        problems = [f"{folder.name}: {s}" if isinstance(s, str) else f"{folder.name}: {s.reason}"
                    for folder, s in summaries.items()
                    if isinstance(s, str) or s.status in (Status.FAILED, Status.RUNNING, Status.INTERRUPTED)]
        problems += unended_runs(sweep_dir, planned_jobs(config))
        if config.report.enabled and summaries:
            problems += _write_report(config, sweep_dir)
        if problems:
            sys.exit("optlab: this sweep did not end well:\n  " + "\n  ".join(problems))


def _is_tune_worker(config: DictConfig) -> bool:
    """A multirun that is one of optlab.tune's workers (hydra/sweeper=optlab_tune_worker), not a user's sweep."""
    return bool(config.hydra.sweeper.get("protocol"))


def unended_runs(sweep_dir: Path, planned: int | None) -> list[str]:
    """Runs killed before they could write their summary (a cluster job cancelled or its node lost: the launcher
    has said which above), and runs that never started."""
    started = {p.parent for marker in (".hydra", "train.log", "summary.json") for p in sweep_dir.glob(f"*/{marker}")}
    problems = [f"{folder.name}: no summary.json, the run was killed before it ended; resume=true continues it"
                for folder in sorted(started) if not (folder / "summary.json").exists()]
    if planned is not None and len(started) < planned:
        problems.append(f"{planned - len(started)} of {planned} runs never started (their jobs' errors are above)")
    return problems


def _write_report(config: DictConfig, sweep_dir: Path) -> list[str]:
    """The sweep's report; what went wrong, if it could not be written. Hydra turns an exception raised in a
    callback into a warning and exits 0, so a failure is returned here and ends the multirun non-zero."""
    from optlab.report.write import ReportOptions, write_report

    group_by = list(config.report.group_by) if config.report.group_by else None
    # target None: each run is measured against the target recorded in its summary (report.target_acc)
    options = ReportOptions(None, group_by, config.report.sort_by, reference=config.report.reference)
    try:
        outputs = write_report([sweep_dir], sweep_dir / "report", options)
    except Exception as error:  # noqa: BLE001 - any cause; the runs are kept and the report can be rewritten
        return [f"report: {type(error).__name__}: {error} (the runs are kept; after a fix: "
                f"python -m optlab.report {sweep_dir} --out {sweep_dir / 'report'})"]
    print(f"report: {outputs.markdown}")
    return []


def _read(folder: Path) -> RunSummary | str:
    """The folder's summary, or why it cannot be read."""
    try:
        return RunSummary.read(folder)
    except SummaryError as error:
        return str(error)
