"""A protocol's per-run records, in `<out>/report/`: what every figure and sentence of its report rests on, so that
nothing has to be rerun to check or redraw them, and another protocol can pair against them.

- `runs.csv`: one row per run of every stage (search, selection, tuned, default): optimizer, stage, trial, the
  candidate it reran, seed, the searched values, status, where a pruned run stopped, validation and test accuracy and
  loss, training loss, epochs trained, wall time, its numbers identity (optlab.config.run_identity), its folder and,
  for a run reused from the cache, the folder it came from;
- `curves.csv`: per run folder, its values at every epoch end and validation (train loss, validation loss and
  accuracy, elapsed seconds), as optlab's reports read them from the TensorBoard events.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from optlab.config.run_identity import identity_key, override_pairs
from optlab.files import write_atomic
from optlab.report.records import CURVES, MEASURES, RUNS
from optlab.report.runs import read_curves
from optlab.run.summary import RunSummary, Status
from optlab.tune.work_queue import STAGES, WorkQueue

RUN_COLUMNS = ["optimizer", "stage", "trial", "candidate", "seed", "params", "status", "pruned_at_epochs",
               "val_acc", "val_loss", "test_acc", "test_loss", "train_loss", "epochs", "wall_s", "identity",
               "git_commit", "folder", "reused_from", *MEASURES]


def write_records(queue: WorkQueue, report: Path) -> tuple[Path, Path]:
    """runs.csv and curves.csv of the protocol `queue` holds, into `report`."""
    runs = run_records(queue)
    curves = curve_records(queue.settings.out, [folder for folder in runs["folder"] if isinstance(folder, str)])
    return (write_atomic(report / RUNS, runs.to_csv(index=False)),
            write_atomic(report / CURVES, curves.to_csv(index=False)))


def run_records(queue: WorkQueue) -> pd.DataFrame:
    rows = [_row(queue, optimizer, stage, trial) for optimizer in queue.settings.optimizers for stage in STAGES
            for trial in sorted(queue.counted_trials(optimizer, stage), key=lambda t: t.number)
            if "status" in trial.user_attrs]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _row(queue: WorkQueue, optimizer: str, stage: str, trial: Any) -> dict[str, Any]:
    attrs = trial.user_attrs
    folder = attrs.get("folder")
    summary = RunSummary.read(Path(queue.settings.out) / folder) if folder else None
    searched = dict(trial.params) if stage == "search" else _setting(attrs.get("overrides", []))
    seed = attrs.get("seed", queue.settings.search_seed if stage == "search" else None)
    epochs = float(attrs.get("epochs", 0.0))
    return {
        "optimizer": optimizer, "stage": stage, "trial": trial.number, "candidate": attrs.get("candidate"),
        "seed": seed, "params": json.dumps(searched, sort_keys=True), "status": attrs["status"],
        "pruned_at_epochs": epochs if attrs["status"] == str(Status.PRUNED) else math.nan,
        "val_acc": _number(summary, "val_acc"), "val_loss": _number(summary, "val_loss"),
        "test_acc": _number(summary, "test_acc"), "test_loss": _number(summary, "test_loss"),
        "train_loss": _number(summary, "train_loss"),
        "epochs": summary.epochs_trained if summary is not None else epochs, "wall_s": attrs.get("wall_s"),
        "identity": identity_key(summary.identity) if summary is not None and summary.identity else "",
        "git_commit": summary.git_commit if summary is not None and summary.git_commit else "",  # the code it ran
        "folder": folder, "reused_from": attrs.get("reused_from", ""),
        **{name: getattr(summary, name) if summary is not None else math.nan for name in MEASURES},
    }


def _setting(overrides: list[str]) -> dict[str, Any]:
    """{"optimizer.lr": 0.0042} from a rerun's ["optimizer.lr=0.0042"]: the setting it repeats."""
    return {key: _value(value) for key, value in override_pairs(overrides).items()}


def _value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _number(summary: RunSummary | None, name: str) -> float:
    return float(getattr(summary, name)) if summary is not None else math.nan


def curve_records(out: Path, folders: list[str]) -> pd.DataFrame:
    """Every run's curves, long: one row per run folder and epoch position (fractions for validations inside an
    epoch)."""
    frames = []
    for folder in folders:
        curves = read_curves(Path(out) / folder)
        if not curves.empty:
            frames.append(curves.reset_index().assign(folder=folder))
    if not frames:
        return pd.DataFrame(columns=["folder", "epoch"])
    table = pd.concat(frames, ignore_index=True)
    return table[["folder", "epoch", *[c for c in table.columns if c not in ("folder", "epoch")]]]
