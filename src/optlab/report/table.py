"""The per-group table: outcome, final metrics with 95% CIs over seeds, paired comparisons with a reference
group, and time to a fixed target accuracy as AlgoPerf measures it (a miss counts as infinity; median over seeds).

The reference, unless named, is the group with the highest mean validation accuracy. Means within statistics.TIE
of it are a tie, not an order: the tie is broken by the lower mean validation loss, then by the group's name, both
read before any test accuracy, and the table names the groups tied with it (reference_ties) so no report calls a
tied reference the best without saying so."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import pandas as pd

from optlab.config.run_identity import group_label, override_pairs, varying_keys
from optlab.report.runs import Run
from optlab.report.statistics import (
    TIE,
    PairedComparison,
    holm,
    holm_confidence,
    mean_ci,
    paired_comparison,
    verdict,
)
from optlab.run.summary import RunSummary, Status

SORTABLE = ("val_acc", "test_acc", "best_val_acc", "epochs_to_target", "seconds_to_target", "val_loss",
            "train_loss", "epoch_time_s", "optimizer_state_bytes", "group")
DESCENDING = ("val_acc", "test_acc", "best_val_acc")  # accuracies descending, everything else ascending
SUMMARY_FIELDS = tuple(f.name for f in fields(RunSummary))
# The comparison columns: the paired difference with its unadjusted 95% CI, p, Holm's p, the interval at the level
# Holm's correction tested it (statistics.holm_confidence), that level, and the verdict.
COMPARISON = ["diff", "diff_low", "diff_high", "p", "p_holm", "diff_holm_low", "diff_holm_high", "diff_holm_level",
              "verdict"]


def run_value(run: Run, key: str) -> object:
    """A run's value for a config group (optimizer), a summary field (lr) or a config key (optimizer.betas)."""
    summary = run.summary
    if key == "optimizer":  # its name: the config's, or a custom/any optimizer's optimizer_name
        return summary.optimizer
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
    """One row per group; `target` None measures each run against the target recorded in its summary. The
    comparisons with the reference are Holm-corrected as one family of their own."""
    return summarise_family({"": groups}, target, sort_by, reference)[""]


def summarise_family(parts: dict[str, dict[str, list[Run]]], target: float | None, sort_by: str,
                     reference: str | None, family: str = "this report") -> dict[str, pd.DataFrame]:
    """One table per part, with one Holm correction over every part's comparisons: when one claim rests on several
    reports (warmup-cosine against a constant lr, one report per optimizer), their tests are one family, and
    correcting each report alone would let a difference pass that the family does not. `family` names it."""
    if sort_by not in SORTABLE:
        raise ValueError(f"cannot sort by {sort_by!r}; choose one of {list(SORTABLE)}")
    measured = {part: _measure(groups, target, reference) for part, groups in parts.items()}
    keys = [(part, label) for part, (_, comparisons) in measured.items() for label in comparisons]
    p_values = [measured[part][1][label].p_value for part, label in keys]
    adjusted = dict(zip(keys, holm(p_values), strict=True))
    tests = sum(math.isfinite(p) for p in p_values)
    return {part: _sort(_judge(table, comparisons, {label: adjusted[part, label] for label in comparisons})
                        .assign(holm_family=family, holm_tests=tests), sort_by)
            for part, (table, comparisons) in measured.items()}


def _sort(table: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    ascending = sort_by not in DESCENDING
    keys = [sort_by, "val_acc"] if sort_by in ("epochs_to_target", "seconds_to_target") else [sort_by]
    return table.sort_values(keys, ascending=[ascending] + [False] * (len(keys) - 1), na_position="last",
                             kind="stable").reset_index(drop=True)


def _row(label: str, runs: list[Run], target: float | None) -> dict[str, object]:
    summaries = [r.summary for r in runs]
    ok = [s for s in summaries if s.status == Status.OK]
    targets = {target if target is not None else s.target_acc for s in summaries}
    # A skipped run trained nothing: it has no time to target, not a miss (a group of skipped runs shows none).
    times = [time_to_target(r, target if target is not None else r.summary.target_acc) for r in runs
             if r.summary.status != Status.SKIPPED]
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


def tie_order(table: pd.DataFrame, labels: list[str]) -> list[str]:
    """Tied groups in the order the tie rule takes them: lower mean validation loss first, then the name."""
    tied = table[table["group"].isin(labels)]
    return tied.sort_values(["val_loss", "group"], na_position="last", kind="stable")["group"].tolist()


def reference_ties(table: pd.DataFrame, reference: str) -> list[str]:
    """The other groups tied with the reference (within TIE) for the highest mean validation accuracy; none when
    the reference is not among the highest."""
    top = table["val_acc"].max()
    if not table.loc[table["group"] == reference, "val_acc"].ge(top - TIE).any():
        return []
    return [g for g in table.loc[table["val_acc"] >= top - TIE, "group"] if g != reference]


def _reference(table: pd.DataFrame, groups: dict[str, list[Run]], reference: str | None) -> str | None:
    """The named reference, or the highest mean validation accuracy with ties broken by tie_order."""
    if reference is not None and reference not in groups:
        raise ValueError(f"reference group {reference!r} is not among the groups {sorted(groups)}")
    candidates = table[table["val_acc"].notna()]
    if reference is not None or candidates.empty:
        return reference
    return tie_order(table, list(candidates.loc[candidates["val_acc"] >= candidates["val_acc"].max() - TIE,
                                                "group"]))[0]


def _measure(groups: dict[str, list[Run]], target: float | None,
             reference: str | None) -> tuple[pd.DataFrame, dict[str, PairedComparison]]:
    """The rows, and each group's paired comparison (by seed) with the reference, before any correction."""
    table = pd.DataFrame([_row(label, runs, target) for label, runs in groups.items()])
    reference = _reference(table, groups, reference)
    metric = comparison_metric(groups)
    ties = reference_ties(table, reference) if reference else []
    table = table.assign(reference=reference or "", reference_ties=", ".join(ties), compared_on=metric)
    if reference is None:
        return table, {}
    base = per_seed(groups[reference], metric)
    return table, {label: paired_comparison(per_seed(runs, metric), base) for label, runs in groups.items()
                   if label != reference}


def _judge(table: pd.DataFrame, comparisons: dict[str, PairedComparison], p_holm: dict[str, float]) -> pd.DataFrame:
    """The comparison columns: the paired difference with its 95% CI, p, Holm's p, the interval at the level that
    agrees with Holm's verdict (statistics.holm_confidence) and the verdict."""
    if not table["reference"].iloc[0]:
        return table.assign(**{c: math.nan for c in COMPARISON[:-1]}, verdict="no finished runs")
    rows = []
    for label in table["group"]:
        if label not in comparisons:
            rows.append((0.0, *[math.nan] * 7, "reference"))
            continue
        c, adjusted = comparisons[label], p_holm[label]
        level = holm_confidence(c.p_value, adjusted)
        agreeing = c.interval(level)
        rows.append((c.difference.mean, c.difference.low, c.difference.high, c.p_value, adjusted, agreeing.low,
                     agreeing.high, level, verdict(c.difference.mean, adjusted, c.difference.n)))
    return pd.concat([table, pd.DataFrame(rows, columns=COMPARISON, index=table.index)], axis=1)


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _mean(values) -> float:
    finite = _finite(values)
    return float(np.mean(finite)) if finite else math.nan


def _median(values) -> float:
    """Median with infinities kept (a miss); NaN only when there is nothing to take the median of."""
    kept = [float(v) for v in values if v is not None and not math.isnan(v)]
    return float(np.median(kept)) if kept else math.nan
