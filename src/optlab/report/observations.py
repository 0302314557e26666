"""Observations written from the numbers of a report's table, never by hand. Each sentence states only what the
table supports: a difference between groups is claimed only where a Holm-corrected paired test separates them;
otherwise the groups are "not separated at this number of seeds" (which is not "equal"). An interval quoted beside
a difference is the one at Holm's level (statistics.holm_confidence), so it excludes zero exactly when the verdict
says separated; a reference tied for the highest validation accuracy is said to be tied, with the rule that chose
it."""

from __future__ import annotations

import math

import pandas as pd

from optlab.report.statistics import ALPHA, HIGHER, LOWER, MIN_SEEDS, NOT_SEPARATED, TIE
from optlab.report.table import tie_order
from optlab.run.summary import Status

METRIC_NAMES = {"test_acc": "test accuracy", "val_acc": "validation accuracy"}


def _names(frame: pd.DataFrame) -> str:
    return ", ".join(frame["group"])


def _kib(value: float) -> str:
    return "none" if value == 0 else f"{value / 2**10:,.0f} KiB"


def _ci(low: float, high: float, signed: str = "", level: float = 1 - ALPHA) -> str:
    """"95% CI 88.99% to 90.81%"; with fewer than MIN_SEEDS seeds no interval is computed, and that is said."""
    if not math.isfinite(low):
        return f"no CI: fewer than {MIN_SEEDS} seeds"
    return f"{level_percent(level)} CI {low:{signed}.2%} to {high:{signed}.2%}"


def level_percent(level: float) -> str:
    """0.95 -> "95%", 0.9875 -> "98.75%": a confidence level to two decimals, no trailing zeros."""
    return f"{100 * level:.2f}".rstrip("0").rstrip(".") + "%"


def write_observations(table: pd.DataFrame, time_ranges: dict[str, tuple[float, float]]) -> list[str]:
    """`time_ranges`: per group, the fewest and most epochs to target over its seeds (inf for a miss)."""
    lines = _comparison(table) + _time_to_target(table, time_ranges) + _outcomes(table) + _cost(table)
    return lines


def _comparison(table: pd.DataFrame) -> list[str]:
    reference = table["reference"].iloc[0] if len(table) else ""
    if not reference:
        return ["No run finished: nothing to compare."]
    ref = table[table["group"] == reference].iloc[0]
    metric = METRIC_NAMES[ref.compared_on]
    seeds = len(ref.seeds.split(","))
    tests = int(ref.holm_tests)
    lines = [
        f"{_role(table, ref)}: {reference} ({ref.val_acc:.2%}); its {metric} {ref[ref.compared_on]:.2%} "
        f"({_ci(ref[ref.compared_on + '_low'], ref[ref.compared_on + '_high'])}, "
        f"{seeds} seed{'s' if seeds > 1 else ''})."
        " Every other group "
        f"is compared with it on {metric}, seed by seed (same initial weights), by paired t-tests with Holm's "
        f"correction at {ALPHA:.0%} over the {tests} test{'s' if tests != 1 else ''} of {ref.holm_family}; each "
        "interval below is at the level Holm's correction tested it, so it excludes 0 exactly when the test "
        "separates the groups.",
    ]
    same = table[table["verdict"] == NOT_SEPARATED]
    if not same.empty:
        lines.append(f"Not separated from {reference} at {seeds} seeds (no evidence of a difference, nor of "
                     f"equality): {_names(same)}.")
    for verdict, word in ((LOWER, "Below"), (HIGHER, "Above")):
        hit = table[table["verdict"] == verdict]
        if not hit.empty:
            parts = ", ".join(f"{row.group} ({row.diff:+.2%}, "
                              f"{_ci(row.diff_holm_low, row.diff_holm_high, '+', row.diff_holm_level)})"
                              for row in hit.itertuples())
            lines.append(f"{word} {reference} (paired difference, Holm p < {ALPHA}): {parts}.")
    untested = table[table["verdict"].str.startswith("untested")]
    if not untested.empty:
        reasons = ", ".join(f"{row.group} ({row.verdict.removeprefix('untested (').rstrip(')')})"
                            for row in untested.itertuples())
        lines.append(f"Not tested against {reference}: {reasons}.")
    return lines


def _role(table: pd.DataFrame, ref: pd.Series) -> str:
    """Why this group is the reference; a tie for the highest validation accuracy is said, with how it was broken."""
    best = table["val_acc"].max()
    if not ref.val_acc >= best - TIE:
        return f"Reference, as chosen (highest mean validation accuracy: {best:.2%}, not this group)"
    ties = [g for g in ref.reference_ties.split(", ") if g] if isinstance(ref.reference_ties, str) else []
    if not ties:
        return "Highest mean validation accuracy"
    order = tie_order(table, [ref.group, *ties])
    losses = ", ".join(f"{g} {table.loc[table['group'] == g, 'val_loss'].iloc[0]:.4f}" for g in order)
    how = ("broken by the lower mean validation loss, then the name" if order[0] == ref.group
           else "the reference as chosen, not by the tie rule")
    return (f"Tied within {TIE:g} for the highest mean validation accuracy with {', '.join(ties)} ({how}; "
            f"validation loss {losses})")


def _time_to_target(table: pd.DataFrame, time_ranges: dict[str, tuple[float, float]]) -> list[str]:
    timed = table[table["epochs_to_target"].notna()]
    if timed.empty:
        return ["No target accuracy was set (report.target_acc): time to target not measured."]
    targets = {t for t in timed["target_acc"] if math.isfinite(t)}
    target = f"{targets.pop():.0%}" if len(targets) == 1 else "each run's target"
    reached = timed[timed["epochs_to_target"] < math.inf]
    if reached.empty:
        return [f"No group reached {target} validation accuracy in the median over its seeds."]
    best = reached["epochs_to_target"].min()
    first = reached[reached["epochs_to_target"] == best]
    lines = [
        f"Fewest epochs to {target} validation accuracy (median over seeds, a miss counts as never): "
        + ", ".join(f"{row.group} ({row.reached_target}/{row.runs} runs reached it)" for row in first.itertuples())
        + f" at {best:.2f} epochs" + (" (a tie)" if len(first) > 1 else "") + "."
    ]
    others = reached[reached["epochs_to_target"] > best]
    if not others.empty:
        slowest_seed = max(time_ranges[g][1] for g in first["group"])
        overlap = others[[time_ranges[g][0] <= slowest_seed for g in others["group"]]]
        if not overlap.empty:
            lines.append(f"Over seeds, {_names(first)} took {_span(first, time_ranges)} epochs; the fastest seed of "
                         f"{_names(overlap)} was as fast or faster: the order among these is not settled by these "
                         "seeds.")
    never = timed[timed["epochs_to_target"] == math.inf]
    if not never.empty:
        lines.append(f"Median never reached {target}: {_names(never)}.")
    return lines


def _span(groups: pd.DataFrame, time_ranges: dict[str, tuple[float, float]]) -> str:
    low = min(time_ranges[g][0] for g in groups["group"])
    high = max(time_ranges[g][1] for g in groups["group"])
    return f"{low:.2f}-{'never' if math.isinf(high) else f'{high:.2f}'}"


def _outcomes(table: pd.DataFrame) -> list[str]:
    lines = []
    for status in (Status.DIVERGED, Status.SKIPPED, Status.FAILED, Status.INTERRUPTED):
        for row in table[table["status"].str.contains(status.value)].itertuples():
            lines.append(f"{row.group}: {row.status} — {row.reasons or 'no reason recorded'}.")
    probing = table[table["evaluations_per_step"] > 1]
    for row in probing.itertuples():
        lines.append(f"{row.group} evaluated the loss {row.evaluations_per_step:.2f} times per step (its line "
                     "search); its training loss is each step's first evaluation.")
    return lines


def _cost(table: pd.DataFrame) -> list[str]:
    lines = []
    timed = table[table["epoch_time_s"].notna()].sort_values("epoch_time_s")
    if len(timed) > 1:
        lines.append(f"Time per epoch (mean over runs, as measured on this machine): from "
                     f"{timed.iloc[0].epoch_time_s:.2f} s ({timed.iloc[0].group}) to "
                     f"{timed.iloc[-1].epoch_time_s:.2f} s ({timed.iloc[-1].group}).")
    memory = table[table["optimizer_state_bytes"].notna()].sort_values("optimizer_state_bytes")
    if len(memory) > 1:
        lines.append(f"Optimizer state: from {_kib(memory.iloc[0].optimizer_state_bytes)} ({memory.iloc[0].group}) "
                     f"to {_kib(memory.iloc[-1].optimizer_state_bytes)} ({memory.iloc[-1].group}).")
    return lines
