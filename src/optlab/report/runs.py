"""Find runs under any folders and read each one's summary and curves from its TensorBoard events."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tbparse import SummaryReader

from optlab.run.summary import FILENAME, RunSummary, SummaryError

log = logging.getLogger(__name__)

# TensorBoard tag -> curve column. Epoch-end values sit at whole epochs (1, 2, ...); validation values at the
# epoch each validation happened (`val/epoch`: 0.5 mid-way through the first epoch with val_check_interval=0.5).
EPOCH_TAGS = {"train/loss_epoch": "train_loss", "time/elapsed_s": "elapsed_s"}
VALIDATION_TAGS = {"val/loss": "val_loss", "val/acc": "val_acc", "time/val_elapsed_s": "val_elapsed_s"}
COLUMNS = [*EPOCH_TAGS.values(), *VALIDATION_TAGS.values()]


DYNAMICS_TAGS = {"dynamics/grad_norm": "grad_norm", "dynamics/update_norm": "update_norm",
                 "dynamics/update_ratio": "update_ratio"}  # whole-network values of optlab.run.dynamics


@dataclass(frozen=True)
class Run:
    folder: Path
    summary: RunSummary
    curves: pd.DataFrame  # index: epochs trained (float); columns: COLUMNS, NaN where a row has no such value
    # index: optimizer step; columns: DYNAMICS_TAGS' names; empty when the run logged none
    dynamics: pd.DataFrame = field(default_factory=pd.DataFrame)


def find_run_folders(paths: Iterable[Path]) -> list[Path]:
    """Every folder under `paths` (or equal to one) that holds a summary.json, each once, by the name it has there:
    links are followed (a tune protocol links the runs it reused from another one)."""
    folders: dict[Path, Path] = {}
    for path in paths:
        for folder, _, files in os.walk(path, followlinks=True):
            if FILENAME in files:
                folders.setdefault(Path(folder).resolve(), Path(folder).absolute())
    return sorted(folders.values())


def load_runs(paths: Iterable[Path]) -> list[Run]:
    """Every run found; one whose summary.json cannot be read is left out with a warning (and left untouched)."""
    runs = []
    for folder in find_run_folders(paths):
        try:
            summary = RunSummary.read(folder)
        except SummaryError as error:
            log.warning("left out of the report: %s", error)
            continue
        if summary is not None:
            by_step = _scalars_by_step(folder)
            runs.append(Run(folder, summary, read_curves(folder, by_step), _dynamics(by_step)))
    return runs


def _scalars_by_step(folder: Path) -> pd.DataFrame:
    """Every scalar of the run's event files, one column per tag, one row per step; empty if it never trained."""
    if not any(folder.glob("events.out.tfevents.*")):
        return pd.DataFrame()
    scalars = SummaryReader(str(folder)).scalars
    if scalars.empty:
        return pd.DataFrame()
    # A resumed run logs some steps twice: the last value wins.
    return scalars.pivot_table(index="step", columns="tag", values="value", aggfunc="last")


def _dynamics(by_step: pd.DataFrame) -> pd.DataFrame:
    present = [tag for tag in DYNAMICS_TAGS if tag in by_step]
    return by_step[present].dropna(how="all").rename(columns=DYNAMICS_TAGS) if present else pd.DataFrame()


def read_curves(folder: Path, by_step: pd.DataFrame | None = None) -> pd.DataFrame:
    """Epoch-end and validation values from the run's event files; empty for runs that never trained."""
    empty = pd.DataFrame(columns=COLUMNS, dtype=float)
    by_step = _scalars_by_step(folder) if by_step is None else by_step
    if by_step.empty:
        return empty
    frames = [
        _positioned(by_step, EPOCH_TAGS, by_step.get("epoch") + 1 if "epoch" in by_step else None),
        _positioned(by_step, VALIDATION_TAGS, by_step.get("val/epoch")),
    ]
    curves = pd.concat([f for f in frames if not f.empty], axis=0) if any(not f.empty for f in frames) else empty
    curves = curves.groupby(level=0).last().reindex(columns=COLUMNS).sort_index()
    curves.index.name = "epoch"
    return _time_untimed_validations(curves)


def _time_untimed_validations(curves: pd.DataFrame) -> pd.DataFrame:
    """A validation without its own clock reading validated the weights of an epoch's end: the final validation
    after fit (logged at the last step), and every validation of runs written before validations were timed. Its
    numbers were known when that epoch ended, so it takes the epoch's `elapsed_s`; every validation then has a
    time, and time to target and loss against time read one column."""
    untimed = curves["val_elapsed_s"].isna() & curves["val_loss"].notna()
    curves.loc[untimed, "val_elapsed_s"] = curves.loc[untimed, "elapsed_s"]
    return curves


def _positioned(by_step: pd.DataFrame, tags: dict[str, str], position: pd.Series | None) -> pd.DataFrame:
    """The rows holding any of `tags`, indexed by their position in epochs."""
    present = [tag for tag in tags if tag in by_step]
    if position is None or not present:
        return pd.DataFrame()
    rows = by_step[present].dropna(how="all").rename(columns=tags)
    rows.index = position.reindex(rows.index).round(6)
    return rows[rows.index.notna()]
