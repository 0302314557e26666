"""The per-group table: outcome, final metrics with 95% CIs over seeds, paired comparisons with a reference
group, and time to a fixed target accuracy as AlgoPerf measures it (a miss counts as infinity; median over seeds)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import pandas as pd

from optlab.config.run_identity import group_label, override_pairs, varying_keys
from optlab.report.runs import Run
from optlab.report.statistics import ALPHA, holm, mean_ci, paired_comparison
from optlab.run.summary import RunSummary, Status

SORTABLE = ("val_acc", "test_acc", "best_val_acc", "epochs_to_target", "seconds_to_target", "val_loss",
            "train_loss", "epoch_time_s", "optimizer_state_bytes", "group")
DESCENDING = ("val_acc", "test_acc", "best_val_acc")  # accuracies descending, everything else ascending
SUMMARY_FIELDS = tuple(f.name for f in fields(RunSummary))


def run_value(run: Run, key: str) -> object:
    """A run's value for a config group (optimizer), a summary field (lr) or a config key (optimizer.betas)."""
    summary = run.summary
    if key in summary.choices:
        return summary.choices[key]
    if key in SUMMARY_FIELDS:
        return getattr(summary, key)
    return summary.config.get(key)


def identity_keys(runs: Sequence[Run]) -> list[str]:
    """Keys that may tell runs apart: the config group choices and every key overridden on a command line."""
    keys = {k for r in runs for k in r.summary.choices} | {k for r in runs for k in override_pairs(r.summary.overrides)}
    return sorted(keys | {"optimizer"})


def group_runs(runs: Sequence[Run], group_by: Sequence[str] | None) -> dict[str, list[Run]]:
    """Runs grouped by `group_by`, or (None) by every identity key whose value differs between them, seed aside."""
    if group_by is None:
        identities = [{k: run_value(r, k) for k in identity_keys(runs)} for r in runs]
        keys = ["optimizer", *[k for k in varying_keys(identities) if k != "optimizer"]]
    else:
        keys = list(group_by)
        known = set(identity_keys(runs)) | set(SUMMARY_FIELDS) | {k for r in runs for k in r.summary.config}
        unknown = [k for k in keys if k not in known]
        if unknown or not keys:
            raise ValueError(f"cannot group by {keys}: {unknown or 'no keys'} not in the runs' config or summaries; "
                             "use config keys such as optimizer, scheduler, optimizer.lr, data.batch_size")
    groups: dict[str, list[Run]] = {}
    for run in runs:
        label = group_label({k: run_value(run, k) for k in keys}, keys)
        groups.setdefault(label, []).append(run)
    return dict(sorted(groups.items()))


def time_to_target(run: Run, target: float | None) -> tuple[float, float]:
    """(epochs, seconds) of the first validation at or above target; (inf, inf) if never, or if the run did not
    finish ok (a diverged run counts as never, even if it passed the target before)."""
    if target is None or not math.isfinite(target):
        return math.nan, math.nan
    if run.summary.status != Status.OK or run.curves.empty:
        return math.inf, math.inf
    reached = run.curves[run.curves["val_acc"] >= target]
    if reached.empty:
        return math.inf, math.inf
    return float(reached.index[0]), float(reached["val_elapsed_s"].iloc[0])


def summarise(groups: dict[str, list[Run]], target: float | None, sort_by: str, reference: str | None) -> pd.DataFrame:
    """One row per group; `target` None measures each run against the target recorded in its summary."""
    if sort_by not in SORTABLE:
        raise ValueError(f"cannot sort by {sort_by!r}; choose one of {list(SORTABLE)}")
    table = pd.DataFrame([_row(label, runs, target) for label, runs in groups.items()])
    table = _compare_with_reference(table, groups, reference)
    ascending = sort_by not in DESCENDING
    keys = [sort_by, "val_acc"] if sort_by in ("epochs_to_target", "seconds_to_target") else [sort_by]
    return table.sort_values(keys, ascending=[ascending] + [False] * (len(keys) - 1), na_position="last",
                             kind="stable").reset_index(drop=True)


def _row(label: str, runs: list[Run], target: float | None) -> dict[str, object]:
    summaries = [r.summary for r in runs]
    ok = [s for s in summaries if s.status == Status.OK]
    targets = {target if target is not None else s.target_acc for s in summaries}
    times = [time_to_target(r, target if target is not None else r.summary.target_acc) for r in runs]
    val, test = mean_ci([s.val_acc for s in ok]), mean_ci([s.test_acc for s in ok])
    statuses = Counter(s.status for s in summaries)
    return {
        "group": label,
        "optimizer": runs[0].summary.optimizer,
        "runs": len(runs),
        "seeds": ",".join(str(s) for s in sorted({s.seed for s in summaries})),
        "status": ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())),
        "train_loss": _mean(s.train_loss for s in ok),
        "val_loss": _mean(s.val_loss for s in ok),
        "val_acc": val.mean, "val_acc_low": val.low, "val_acc_high": val.high,
        "best_val_acc": _mean(s.best_val_acc for s in ok),
        "test_acc": test.mean, "test_acc_low": test.low, "test_acc_high": test.high,
        "target_acc": targets.pop() if len(targets) == 1 else math.nan,
        "reached_target": sum(math.isfinite(e) for e, _ in times),
        # Medians over every run, misses as infinity: a group where most runs miss has an infinite median.
        "epochs_to_target": _median(e for e, _ in times),
        "seconds_to_target": _median(s for _, s in times),
        "epoch_time_s": _mean(s.epoch_time_s for s in summaries),
        "optimizer_state_bytes": _mean(s.optimizer_state_bytes for s in summaries
                                       if s.status in (Status.OK, Status.DIVERGED)),
        "evaluations_per_step": _mean(s.evaluations_per_step for s in ok),
        "reasons": "; ".join(sorted({s.reason for s in summaries if s.reason})),
    }


def per_seed(runs: Sequence[Run], metric: str) -> dict[int, float]:
    """A group's metric by seed (finished runs only; several runs of one seed are averaged)."""
    values: dict[int, list[float]] = {}
    for run in runs:
        if run.summary.status == Status.OK:
            values.setdefault(run.summary.seed, []).append(getattr(run.summary, metric))
    return {seed: float(np.mean(v)) for seed, v in values.items()}


def comparison_metric(groups: dict[str, list[Run]]) -> str:
    """Test accuracy (the final weights', measured once) when the runs have it, else validation accuracy."""
    tested = any(math.isfinite(r.summary.test_acc) for runs in groups.values() for r in runs)
    return "test_acc" if tested else "val_acc"


def _compare_with_reference(table: pd.DataFrame, groups: dict[str, list[Run]], reference: str | None) -> pd.DataFrame:
    """Paired differences (group minus reference) by seed, with Holm-corrected p-values and a verdict."""
    candidates = table[table["val_acc"].notna()]
    if reference is None and not candidates.empty:
        reference = candidates.sort_values("val_acc", ascending=False)["group"].iloc[0]
    elif reference is not None and reference not in groups:
        raise ValueError(f"reference group {reference!r} is not among the groups {sorted(groups)}")
    metric = comparison_metric(groups)
    table["reference"] = reference or ""
    table["compared_on"] = metric
    if reference is None:
        return table.assign(diff=math.nan, diff_low=math.nan, diff_high=math.nan, p=math.nan, p_holm=math.nan,
                            verdict="no finished runs")
    base = per_seed(groups[reference], metric)
    comparisons = {label: paired_comparison(per_seed(runs, metric), base) for label, runs in groups.items()
                   if label != reference}
    adjusted = dict(zip(comparisons, holm([c.p_value for c in comparisons.values()]), strict=True))
    rows = []
    for label in table["group"]:
        if label == reference:
            rows.append((0.0, math.nan, math.nan, math.nan, math.nan, "reference"))
            continue
        c, p_holm = comparisons[label], adjusted[label]
        rows.append((c.difference.mean, c.difference.low, c.difference.high, c.p_value, p_holm,
                     _verdict(c.difference.mean, p_holm, c.difference.n)))
    columns = ["diff", "diff_low", "diff_high", "p", "p_holm", "verdict"]
    return pd.concat([table, pd.DataFrame(rows, columns=columns, index=table.index)], axis=1)


def _verdict(difference: float, p_holm: float, pairs: int) -> str:
    if pairs < 2:
        return f"untested ({pairs} paired seed{'s' if pairs != 1 else ''})"
    if not math.isfinite(p_holm):  # every seed gave the same difference: a t-test has no spread to work with
        return f"untested (the same difference on all {pairs} paired seeds)"
    if p_holm >= ALPHA:
        return "indistinguishable"
    return "higher" if difference > 0 else "lower"


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _mean(values) -> float:
    finite = _finite(values)
    return float(np.mean(finite)) if finite else math.nan


def _median(values) -> float:
    """Median with infinities kept (a miss); NaN only when there is nothing to take the median of."""
    kept = [float(v) for v in values if v is not None and not math.isnan(v)]
    return float(np.median(kept)) if kept else math.nan
