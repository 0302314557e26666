"""The comparison figure: each group's paired difference from the reference, with its interval (a forest plot).

What a reader asks of a comparison is "better or worse than the reference, by how much, and is it settled?".
Absolute accuracies with their own intervals answer it badly: the seed-to-seed spread they share hides differences
that pairing by seed separates. So the figure draws the paired difference itself, sorted, and marks the groups a
Holm-corrected test separates (filled) from those it does not (hollow). Each interval is drawn at the level at which
Holm's procedure judged its comparison (statistics.holm_confidence), not at an unadjusted 95%: an unadjusted interval
clear of zero beside a hollow marker (SGD at -6.14 [-11.33, -0.95], p_Holm 0.36) says more than the test did. So a
drawn interval excludes zero exactly when its marker is filled.

One group far away (L-BFGS at -60 points) would squeeze every other group into a corner, so the axis spans the
groups inside Tukey's far-out fences (3 IQR beyond the quartiles of the differences); a group outside is drawn as
an arrow at the edge with its value written beside it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from optlab.report.figures import GREY, WIDTH, save
from optlab.report.statistics import ALPHA, MIN_SEEDS, NOT_SEPARATED, SEPARATED

FENCE_IQR = 3.0  # Tukey's far-out fence


def axis_limits(rows: pd.DataFrame) -> tuple[float, float]:
    """x limits in points: every interval of the groups inside the fences, and zero, with a margin."""
    diffs = rows["diff"].to_numpy(dtype=float) * 100
    q1, q3 = np.percentile(diffs, [25, 75])
    fence_low, fence_high = q1 - FENCE_IQR * (q3 - q1), q3 + FENCE_IQR * (q3 - q1)
    inside = rows[(diffs >= fence_low) & (diffs <= fence_high)]
    ends = [0.0, *inside["diff"] * 100]
    ends += [v * 100 for v in (*inside["diff_holm_low"], *inside["diff_holm_high"]) if math.isfinite(v)]
    low, high = min(ends), max(ends)
    margin = max(0.08 * (high - low), 0.05)
    return low - margin, high + margin


def forest(table: pd.DataFrame, styles, title: str, path: Path) -> Path | None:
    """None when there is nothing to compare (no reference, or it is the only group)."""
    rows = table[(table["verdict"] != "reference") & table["diff"].notna()].sort_values("diff", ascending=True)
    if rows.empty:
        return None
    reference = table[table["verdict"] == "reference"].iloc[0]
    metric = reference.compared_on.replace("_", " ")
    low, high = axis_limits(rows)
    fig, ax = plt.subplots(figsize=(WIDTH * 0.75, 0.32 * len(rows) + 1.9))
    ax.axvline(0, color="black", linewidth=1)
    for i, row in enumerate(rows.itertuples()):
        _draw_row(ax, i, row, styles[row.group][0], (low, high))
    ax.set_yticks(np.arange(len(rows)), rows["group"])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(low, high)
    ax.set_xlabel(f"{metric} minus {reference.group}'s ({getattr(reference, reference.compared_on):.2%}), "
                  f"percentage points\n({interval_note(rows, len(str(reference.seeds).split(',')))})")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=legend_handles(rows["verdict"]), loc="best", fontsize=8, framealpha=0.9)
    ax.set_title(title, fontsize=10)
    return save(fig, path)


def interval_note(rows: pd.DataFrame, seeds: int) -> str:
    """What the bars are: intervals at Holm's levels, which agree with the markers, or why there are none."""
    levels = rows["diff_holm_level"][rows["diff_holm_low"].notna()]
    if levels.empty:
        return f"no intervals: fewer than {MIN_SEEDS} seeds"
    span = f"{levels.min():.1%}" if levels.min() == levels.max() else f"{levels.min():.1%}-{levels.max():.1%}"
    return f"intervals at Holm's levels ({span}) over {seeds} paired seeds; one excludes 0 exactly when filled"


def legend_handles(verdicts: pd.Series) -> list[plt.Line2D]:
    """One entry per kind of marker the figure draws, and none for a kind it does not."""
    untested = verdicts.astype(str).str.startswith("untested")
    separated = verdicts.isin(SEPARATED)
    kinds = [(separated.any(), {"color": "black"}, f"separated (Holm p < {ALPHA})"),
             ((~separated & ~untested).any(), {"color": "black", "markerfacecolor": "white"},
              f"{NOT_SEPARATED} (Holm p ≥ {ALPHA})"),
             (untested.any(), {"color": GREY, "markerfacecolor": "white"}, "untested (see the table)")]
    return [plt.Line2D([], [], marker="o", linestyle="", label=label, **style) for drawn, style, label in kinds
            if drawn]


def _draw_row(ax: plt.Axes, y: int, row, colour: tuple, limits: tuple[float, float]) -> None:
    """One group: its interval and point; outside the axis, an arrow at the edge with the value written."""
    low, high = limits
    diff = row.diff * 100
    tested = not str(row.verdict).startswith("untested")
    colour = colour if tested else GREY
    if diff < low or diff > high:
        edge = low if diff < low else high
        ax.annotate(f"{diff:+.1f} pp", xy=(edge, y), xytext=(edge + (high - low) * (0.12 if diff < low else -0.12), y),
                    va="center", ha="left" if diff < low else "right", fontsize=8, color=colour,
                    arrowprops={"arrowstyle": "->", "color": colour})
        return
    if math.isfinite(row.diff_holm_low):
        ax.plot([max(row.diff_holm_low * 100, low), min(row.diff_holm_high * 100, high)], [y, y], color=colour,
                linewidth=2)
    separated = row.verdict in SEPARATED
    ax.plot(diff, y, "o", markersize=7, color=colour, markerfacecolor=colour if separated else "white",
            markeredgewidth=1.5)
