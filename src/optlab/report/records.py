"""A published protocol's runs, read back from its records (runs.csv, curves.csv, protocol.json) instead of its run
folders, which are not shipped: so that a report can pair new runs with them (`optlab.tune against=`) and anyone
can redraw a published figure or recompute a published table.

A record stands for a run as far as a report reads one: its optimizer, seed, status, accuracies and losses, its
searched values, and its curves; the data, model and settings every run of the protocol shares come from
protocol.json. A file that is missing or cannot be read is one RecordsError line naming it, never a partial
comparison.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from optlab.report.runs import COLUMNS, Run
from optlab.run.summary import RunSummary, Status

RUNS, CURVES, PROTOCOL = "runs.csv", "curves.csv", "protocol.json"
# protocol.json's parts (optlab.tune.identity writes them): what a pairing must share, and the config choices by name
PARTS = ("training", "rules", "seeds", "versions", "train_overrides", "choices")
# What a report reads of a run besides its accuracies and losses: its cost, its best validation, the target it timed.
MEASURES = ("best_val_acc", "epoch_time_s", "optimizer_state_bytes", "evaluations_per_step", "target_acc", "reason")
REQUIRED = {"optimizer", "stage", "seed", "params", "status", "val_acc", "val_loss", "test_acc", "test_loss",
            "train_loss", "epochs", "folder", *MEASURES}


class RecordsError(ValueError):
    """Records that are missing or cannot be read; the message names the file."""


@dataclass(frozen=True)
class Records:
    folder: Path
    runs: pd.DataFrame
    curves: pd.DataFrame
    protocol: dict[str, Any]


def read_records(folder: Path) -> Records:
    return Records(folder, _csv(folder / RUNS, REQUIRED), _csv(folder / CURVES, {"folder", "epoch"}),
                   read_protocol(folder))


def read_protocol(folder: Path) -> dict[str, Any]:
    path = folder / PROTOCOL
    if not path.is_file():
        raise RecordsError(f"{path.absolute()} is missing: point at a protocol's report folder (one optlab.tune "
                           f"wrote, with {PROTOCOL}, {RUNS} and {CURVES}), e.g. docs/results/tuning_v3 from a clone's "
                           "folder")
    try:
        protocol = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RecordsError(f"{path} cannot be read ({error}); restore it from the repository") from None
    if not isinstance(protocol, dict) or not set(PARTS) <= set(protocol):
        raise RecordsError(f"{path} is not a protocol identity ({', '.join(PARTS)}); restore it")
    return protocol


def _csv(path: Path, columns: set[str]) -> pd.DataFrame:
    if not path.is_file():
        raise RecordsError(f"{path} is missing: the protocol's records are incomplete; restore it")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise RecordsError(f"{path} cannot be read ({str(error).splitlines()[0]}); restore it") from None
    missing = sorted(columns - set(table.columns))
    if missing:
        raise RecordsError(f"{path} lacks the column(s) {', '.join(missing)}; restore it")
    return table


def recorded_runs(records: Records, stage: str) -> list[Run]:
    """The runs of one stage (tuned, default, ...) as a report reads runs."""
    curves = dict(iter(records.curves.groupby("folder")))
    rows = records.runs[records.runs["stage"] == stage]
    return [Run(records.folder / str(row.folder), _summary(row, records.protocol),
                _curves(curves.get(row.folder))) for row in rows.itertuples()]


def _summary(row: Any, protocol: dict[str, Any]) -> RunSummary:
    params = json.loads(row.params) if isinstance(row.params, str) and row.params else {}
    choices = protocol["choices"]  # the names a run's summary holds (mnist_net, not its class)
    summary = RunSummary(optimizer=str(row.optimizer), data=str(choices["data"]), model=str(choices["model"]),
                         scheduler=str(choices["scheduler"]), precision=str(choices["precision"]), seed=int(row.seed),
                         lr=params.get("optimizer.lr"), status=Status(row.status))
    for name in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc", "best_val_acc", "epoch_time_s",
                 "evaluations_per_step"):
        setattr(summary, name, float(getattr(row, name)))
    summary.optimizer_state_bytes = int(row.optimizer_state_bytes) if math.isfinite(row.optimizer_state_bytes) else 0
    summary.target_acc = float(row.target_acc) if math.isfinite(row.target_acc) else None
    summary.reason = "" if pd.isna(row.reason) else str(row.reason)
    summary.epochs = int(math.floor(float(row.epochs)))
    summary.choices = {"optimizer": str(row.optimizer), "data": summary.data}
    summary.config = {"optimizer": str(row.optimizer), **params}
    return summary


def _curves(table: pd.DataFrame | None) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame(columns=COLUMNS)
    return table.set_index("epoch").reindex(columns=COLUMNS).sort_index()
