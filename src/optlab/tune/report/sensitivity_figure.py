"""lr_sensitivity.png: each optimizer's search trials, final validation accuracy (%) against learning rate.

One small panel per optimizer on a shared accuracy axis: a wide plateau means the optimizer forgives a rough lr
(DeepOBS's tuneability), a spike that only a lucky trial finds. Pruned trials are hollow, at the accuracy where the
pruner stopped them; trials of a widening round (lrs beyond the range first searched) are squares; diverged or
failed trials sit at 0 as crosses; the config default lr is the dotted line; the axis is the range finally searched.

The chosen lr carries two marks, because they differ: the star is its score on the search seed, the one the search
picked it for (the best of many tries, so biased upward: the winner's curse), and the diamond with its 95% CI is its
mean over the fresh seeds it was rerun on, the result the tables report; a reader who took the star for the result
would overstate it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from optlab.run.summary import Status  # noqa: E402
from optlab.tune.report.trials import SearchResult, Trial  # noqa: E402

COLUMNS = 4
PERCENT = 100.0  # accuracies are drawn in %, as every table gives them


def draw_sensitivity(searches: dict[str, SearchResult], table: pd.DataFrame, colours: dict[str, tuple],
                     path: Path) -> Path | None:
    """`table`: the tuning table (tuning_table), for each optimizer's default lr and its fresh-seed result."""
    drawn = {o: r for o, r in searches.items() if r.trials}
    if not drawn:
        return None
    rows_by_optimizer = table.set_index("optimizer")
    columns = min(COLUMNS, len(drawn))  # one optimizer: one panel, not a row with three empty ones
    rows = math.ceil(len(drawn) / columns)
    width = max(5.0, 2.75 * columns + 0.5)
    handles = _legend_handles()
    legend_columns = max(1, min(4, int(width // 2.9)))  # an entry takes about 2.9 inches at 7.5 pt
    legend_height = 0.19 * math.ceil(len(handles) / legend_columns)  # inches
    height = 2.6 * rows + 1.0 + legend_height
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), sharey=True, squeeze=False,
                             layout="constrained")  # places the legend between the title and the panels
    for ax, (optimizer, result) in zip(axes.flat, drawn.items(), strict=False):  # the grid may have spare cells
        row = rows_by_optimizer.loc[optimizer] if optimizer in rows_by_optimizer.index else None
        _panel(ax, result, row, colours[optimizer])
    for ax in list(axes.flat)[len(drawn):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("validation accuracy (%)", fontsize=8)
    fig.supxlabel("learning rate (log scale; the axis spans the range searched, widening included)", fontsize=9)
    # The title heads the legend: constrained layout stacks a legend "outside" the panels but not under a suptitle.
    fig.legend(handles=handles, loc="outside upper center", ncol=legend_columns, fontsize=7.5, frameon=False,
               title="Search trials: validation accuracy at the end of each trial against its learning rate",
               title_fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _legend_handles() -> list[Line2D]:
    """What each mark means, once for the whole figure (the panels have no room for a legend each)."""
    def mark(marker: str, label: str, **style: object) -> Line2D:
        return Line2D([], [], marker=marker, linestyle="none", label=label, **{"color": "dimgrey", **style})

    return [
        mark("o", "finished trial (search seed)", markersize=4),
        mark("o", "pruned trial, where it stopped", markersize=4, markerfacecolor="none"),
        mark("s", "trial of a widening round", markersize=4),
        mark("x", "diverged, failed or skipped", color="black", markersize=5),
        Line2D([], [], color="grey", linestyle=":", label="config default lr"),
        mark("*", "chosen lr: its search-seed score", color="black", markersize=9),
        mark("D", "chosen lr: mean over the fresh seeds, 95% CI (the result)", color="black", markersize=5,
             markerfacecolor="white"),
    ]


def _trial_marks(ax: plt.Axes, trials: list[Trial], score: str, colour: tuple, hollow: bool) -> None:
    """Circles for the trials of the range first searched, squares for the widening rounds' trials."""
    for widened, marker in ((False, "o"), (True, "s")):
        chosen = [t for t in trials if t.widened == widened]
        if chosen:
            ax.plot([t.lr for t in chosen], [getattr(t, score) * PERCENT for t in chosen], marker, color=colour,
                    markersize=4 if hollow else 3.5, markerfacecolor="none" if hollow else colour, linewidth=0)


def _panel(ax: plt.Axes, result: SearchResult, row: pd.Series | None, colour: tuple) -> None:
    finished = sorted((t for t in result.trials if t.status == Status.OK), key=lambda t: t.lr)
    pruned = [t for t in result.trials if t.status == Status.PRUNED and math.isfinite(t.val_acc)]
    lost = [t.lr for t in result.trials if t.status not in (Status.OK, Status.PRUNED)]
    ax.plot([t.lr for t in finished], [t.objective * PERCENT for t in finished], "-", color=colour, linewidth=1)
    _trial_marks(ax, finished, "objective", colour, hollow=False)
    _trial_marks(ax, pruned, "val_acc", colour, hollow=True)
    if lost:
        ax.plot(lost, [0.0] * len(lost), "x", color="black", markersize=5)
    if row is not None and math.isfinite(row["default_lr"]):
        ax.axvline(row["default_lr"], color="grey", linestyle=":", linewidth=1)
    chosen = result.chosen or result.best
    title = result.optimizer
    if chosen is not None:
        title += _chosen_marks(ax, chosen.lr, result.search_score(chosen), row)
    ax.set_xscale("log")
    if all(math.isfinite(bound) for bound in result.lr_range):
        ax.set_xlim(*result.lr_range)  # the whole range searched, so an empty end of it shows as such
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-3, 100)
    ax.set_title(title, fontsize=8.5)
    ax.tick_params(labelsize=7)


def _chosen_marks(ax: plt.Axes, lr: float, search_score: float, row: pd.Series | None) -> str:
    """The star at the search-seed score, the diamond and its CI at the fresh-seed mean; returns the panel title's
    second line, which gives the chosen lr and the fresh-seed number the tables give (there it overlaps nothing)."""
    ax.plot([lr], [search_score * PERCENT], "*", color="black", markersize=10, zorder=4)
    if row is None or not math.isfinite(row["tuned_val_acc"]):
        return f"\nchosen lr {lr:.2g}; not rerun yet"  # a report written before the fresh-seed reruns
    mean, low, high = (row[key] * PERCENT for key in ("tuned_val_acc", "tuned_val_low", "tuned_val_high"))
    error = [[mean - low], [high - mean]] if math.isfinite(low) and math.isfinite(high) else None
    ax.errorbar([lr], [mean], yerr=error, fmt="D", color="black", markerfacecolor="white", markersize=5,
                capsize=2, linewidth=1, zorder=5)
    return f"\nchosen lr {lr:.2g}: {mean:.1f}% on fresh seeds"
