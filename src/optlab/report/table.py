"""The per-group table: outcome, final metrics, mean +- std over seeds, and how fast each group hit a target."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import pandas as pd

from optlab.report.runs import Run
from optlab.summary import RunSummary

SORTABLE = ("epochs_to_target", "seconds_to_target", "best_val_acc", "test_acc", "val_loss", "train_loss",
            "epoch_time_s", "optimizer_state_bytes", "group")
# Sorting direction: accuracies descending, everything else ascending (never-reached targets last).
DESCENDING = ("best_val_acc", "test_acc")


def check_group_keys(group_by: Sequence[str]) -> None:
    known = [f.name for f in fields(RunSummary)]
    unknown = [key for key in group_by if key not in known]
    if unknown or not group_by:
        raise ValueError(f"cannot group by {list(group_by)}; choose from the summary's keys {known}")


def group_label(run: Run, group_by: Sequence[str]) -> str:
    """"adam" for group_by=[optimizer], "adam, cosine" for [optimizer, scheduler]."""
    return ", ".join(str(getattr(run.summary, key)) for key in group_by)


def group_runs(runs: Sequence[Run], group_by: Sequence[str]) -> dict[str, list[Run]]:
    check_group_keys(group_by)
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(group_label(run, group_by), []).append(run)
    return dict(sorted(groups.items()))


def default_target(runs: Sequence[Run]) -> float:
    """90% of the best validation accuracy any run reached, rounded down to a percent: most groups can get there,
    so the table compares speed rather than only listing who never arrived."""
    best = [r.summary.best_val_acc for r in runs if math.isfinite(r.summary.best_val_acc)]
    return math.floor(0.9 * max(best) * 100) / 100 if best else math.nan


def time_to_target(run: Run, target: float) -> tuple[float, float]:
    """(epochs, seconds) until validation accuracy first reached target; (nan, nan) if never.
    A diverged run counts as never, even if it passed the target before diverging."""
    if run.summary.status != "ok" or run.curves.empty or not math.isfinite(target):
        return math.nan, math.nan
    reached = run.curves[run.curves["val_acc"] >= target]
    if reached.empty:
        return math.nan, math.nan
    return float(reached.index[0]), float(reached["elapsed_s"].iloc[0])


def summarise(groups: dict[str, list[Run]], target: float, sort_by: str) -> pd.DataFrame:
    if sort_by not in SORTABLE:
        raise ValueError(f"cannot sort by {sort_by!r}; choose one of {list(SORTABLE)}")
    rows = [_row(label, runs, target) for label, runs in groups.items()]
    table = pd.DataFrame(rows)
    ascending = sort_by not in DESCENDING
    keys = [sort_by, "seconds_to_target"] if sort_by == "epochs_to_target" else [sort_by]  # ties: faster in seconds
    return table.sort_values(keys, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)


def _row(label: str, runs: list[Run], target: float) -> dict[str, object]:
    summaries = [r.summary for r in runs]
    times = [time_to_target(r, target) for r in runs]
    reached = [t for t in times if math.isfinite(t[0])]
    statuses = Counter(s.status for s in summaries)
    return {
        "group": label,
        "runs": len(runs),
        "status": ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())),
        "train_loss": _mean(s.train_loss for s in summaries if s.status == "ok"),
        "val_loss": _mean(s.val_loss for s in summaries if s.status == "ok"),
        "best_val_acc": _mean(s.best_val_acc for s in summaries if s.status == "ok"),
        "test_acc": _mean(s.test_acc for s in summaries),
        "test_acc_std": _std(s.test_acc for s in summaries),
        "target_acc": target,
        "reached_target": f"{len(reached)}/{len(runs)}",
        # Means over the runs that got there; a group where none did is NaN ("never" in summary.md).
        "epochs_to_target": _mean(e for e, _ in reached),
        "seconds_to_target": _mean(s for _, s in reached),
        "epoch_time_s": _mean(s.epoch_time_s for s in summaries),
        "optimizer_state_bytes": _mean(s.optimizer_state_bytes for s in summaries if s.status in ("ok", "diverged")),
        "reasons": "; ".join(sorted({s.reason for s in summaries if s.reason})),
    }


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _mean(values) -> float:
    finite = _finite(values)
    return float(np.mean(finite)) if finite else math.nan


def _std(values) -> float:
    """Sample standard deviation over seeds (0 for a single run)."""
    finite = _finite(values)
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else (0.0 if finite else math.nan)
