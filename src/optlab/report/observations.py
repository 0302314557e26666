"""Observations written from the numbers of a report's table, never by hand: who got there first, who failed
and why, how far seeds disagree, and what the fastest ones cost."""

from __future__ import annotations

import math

import pandas as pd


def _finite(table: pd.DataFrame, column: str) -> pd.DataFrame:
    return table[table[column].map(lambda v: isinstance(v, float) and math.isfinite(v))]


def _names(frame: pd.DataFrame) -> str:
    return ", ".join(frame["group"])


def _kib(value: float) -> str:
    return "none" if value == 0 else f"{value / 2**10:,.0f} KiB"


def write_observations(table: pd.DataFrame, target: float) -> list[str]:
    lines = []
    if math.isfinite(target):
        reached = _finite(table, "epochs_to_target").sort_values(["epochs_to_target", "seconds_to_target"])
        if not reached.empty:
            first = ", ".join(
                f"{row.group} ({row.epochs_to_target:.1f} epochs, {row.seconds_to_target:.1f} s, {row.reached_target} runs)"
                for row in reached.head(3).itertuples()
            )
            lines.append(f"First to {target:.0%} validation accuracy: {first}.")
            by_time = reached.sort_values("seconds_to_target").iloc[0]
            if by_time.group != reached.iloc[0].group:
                lines.append(
                    f"In wall-clock time {by_time.group} got there first ({by_time.seconds_to_target:.1f} s): "
                    "fewer epochs is not always less time."
                )
        # Groups with no run that trained are reported by their status below, not here.
        never = table[table["epochs_to_target"].isna() & table["status"].str.contains("ok|diverged")]
        if not never.empty:
            lines.append(f"Never reached {target:.0%} within the run: {_names(never)}.")
    for status in ("diverged", "skipped", "failed", "interrupted"):
        hit = table[table["status"].str.contains(status)]
        for row in hit.itertuples():
            lines.append(f"{row.group}: {row.status} — {row.reasons or 'no reason recorded'}.")
    tested = _finite(table, "test_acc")
    if not tested.empty:
        best = tested.sort_values("test_acc", ascending=False).iloc[0]
        lines.append(
            f"Highest test accuracy (final weights, mean ± std over {best.runs} runs): "
            f"{best.group} {best.test_acc:.2%} ± {best.test_acc_std:.2%}."
        )
        multi = tested[tested["runs"] > 1]
        if len(multi) > 1:
            spread = multi.sort_values("test_acc_std")
            lines.append(
                f"Spread across seeds (std of test accuracy): smallest {spread.iloc[0].group} "
                f"({spread.iloc[0].test_acc_std:.2%}), largest {spread.iloc[-1].group} ({spread.iloc[-1].test_acc_std:.2%})."
            )
    timed = _finite(table, "epoch_time_s").sort_values("epoch_time_s")
    if len(timed) > 1:
        lines.append(
            f"Time per epoch: from {timed.iloc[0].epoch_time_s:.2f} s ({timed.iloc[0].group}) "
            f"to {timed.iloc[-1].epoch_time_s:.2f} s ({timed.iloc[-1].group})."
        )
    memory = _finite(table, "optimizer_state_bytes").sort_values("optimizer_state_bytes")
    if len(memory) > 1:
        lines.append(
            f"Optimizer state: from {_kib(memory.iloc[0].optimizer_state_bytes)} ({memory.iloc[0].group}) "
            f"to {_kib(memory.iloc[-1].optimizer_state_bytes)} ({memory.iloc[-1].group})."
        )
    if math.isfinite(target) and not _finite(table, "epochs_to_target").empty:
        fastest = _finite(table, "epochs_to_target").sort_values(["epochs_to_target", "seconds_to_target"]).iloc[0]
        lines.append(
            f"The cost of the fastest, {fastest.group}: {fastest.epoch_time_s:.2f} s per epoch and "
            f"{_kib(fastest.optimizer_state_bytes)} of optimizer state."
        )
    return lines
