"""Find runs under any folders and read each one's summary and per-epoch curves from its TensorBoard events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tbparse import SummaryReader

from optlab.summary import FILENAME, RunSummary

# TensorBoard tag -> curve column. One value per epoch each; `epoch` (logged by Lightning) maps steps to epochs.
CURVE_TAGS = {
    "train/loss_epoch": "train_loss",
    "val/loss": "val_loss",
    "val/acc": "val_acc",
    "time/elapsed_s": "elapsed_s",
}


@dataclass(frozen=True)
class Run:
    folder: Path
    summary: RunSummary
    curves: pd.DataFrame  # index: epoch number from 1; columns: CURVE_TAGS values


def find_run_folders(paths: Iterable[Path]) -> list[Path]:
    """Every folder under `paths` (or equal to one) that holds a summary.json, each once."""
    folders = {p.parent.resolve() for path in paths for p in Path(path).rglob(FILENAME)}
    return sorted(folders)


def load_runs(paths: Iterable[Path]) -> list[Run]:
    runs = []
    for folder in find_run_folders(paths):
        summary = RunSummary.read(folder)
        if summary is not None:
            runs.append(Run(folder, summary, read_curves(folder)))
    return runs


def read_curves(folder: Path) -> pd.DataFrame:
    """Per-epoch values of CURVE_TAGS from the run's event files; empty for runs that never trained."""
    empty = pd.DataFrame(columns=list(CURVE_TAGS.values()), dtype=float)
    if not any(folder.glob("events.out.tfevents.*")):
        return empty
    scalars = SummaryReader(str(folder)).scalars
    if scalars.empty:
        return empty
    epochs = scalars[scalars.tag == "epoch"].drop_duplicates("step", keep="last").set_index("step")["value"]
    rows = scalars[scalars.tag.isin(list(CURVE_TAGS))].copy()
    rows["epoch"] = rows["step"].map(epochs)
    rows = rows.dropna(subset=["epoch"])
    # A resumed run logs some epochs twice: the last value wins.
    curves = rows.pivot_table(index="epoch", columns="tag", values="value", aggfunc="last")
    curves = curves.rename(columns=CURVE_TAGS).reindex(columns=list(CURVE_TAGS.values()))
    curves.index = curves.index.astype(int) + 1
    curves.index.name = "epoch"
    return curves
