"""lr_sensitivity.png: each optimizer's search trials, final validation accuracy against learning rate.

One small panel per optimizer on a shared accuracy axis: a wide plateau means the optimizer forgives a rough lr
(DeepOBS's tuneability), a spike that only a lucky trial finds. Pruned trials are hollow circles at the accuracy
where the pruner stopped them; diverged or failed trials sit at 0 as crosses; the config default lr is the dotted
line, the chosen setting (after selection) the star, the range finally searched (widened ends included) the axis.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from optlab.run.summary import Status  # noqa: E402
from optlab.tune.report.trials import SearchResult  # noqa: E402

COLUMNS = 4


def draw_sensitivity(searches: dict[str, SearchResult], default_lrs: dict[str, float], colours: dict[str, tuple],
                     path: Path) -> Path | None:
    drawn = {o: r for o, r in searches.items() if r.trials}
    if not drawn:
        return None
    columns = min(COLUMNS, len(drawn))  # one optimizer: one panel, not a row with three empty ones
    rows = math.ceil(len(drawn) / columns)
    width = max(5.0, 2.75 * columns + 0.5)
    fig, axes = plt.subplots(rows, columns, figsize=(width, 2.4 * rows + 0.8), sharey=True, squeeze=False)
    for ax, (optimizer, result) in zip(axes.flat, drawn.items(), strict=False):  # the grid may have spare cells
        _panel(ax, result, default_lrs.get(optimizer), colours[optimizer])
    for ax in list(axes.flat)[len(drawn):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("val accuracy")
    title = ("Search trials: final validation accuracy against learning rate over the range searched "
             "(star: chosen; hollow: pruned, where it stopped; dotted: config default; x: diverged, failed or "
             "skipped)")
    fig.suptitle(textwrap.fill(title, width=int(width * 12)), fontsize=9)  # about 12 characters per inch at 9 pt
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _panel(ax: plt.Axes, result: SearchResult, default_lr: float | None, colour: tuple) -> None:
    finished = sorted((t.lr, t.objective) for t in result.trials if t.status == Status.OK)
    pruned = [(t.lr, t.val_acc) for t in result.trials if t.status == Status.PRUNED and math.isfinite(t.val_acc)]
    lost = [t.lr for t in result.trials if t.status not in (Status.OK, Status.PRUNED)]
    if finished:
        ax.plot([lr for lr, _ in finished], [acc for _, acc in finished], "o-", color=colour, markersize=3, linewidth=1)
    if pruned:
        ax.plot([lr for lr, _ in pruned], [acc for _, acc in pruned], "o", markerfacecolor="none", color=colour,
                markersize=4, linewidth=0)
    if lost:
        ax.plot(lost, [0.0] * len(lost), "x", color="black", markersize=5)
    if default_lr is not None and math.isfinite(default_lr):
        ax.axvline(default_lr, color="grey", linestyle=":", linewidth=1)
    chosen = result.chosen or result.best
    if chosen is not None:
        ax.plot([chosen.lr], [chosen.objective], "*", color="black", markersize=10)
    ax.set_xscale("log")
    if all(math.isfinite(bound) for bound in result.lr_range):
        ax.set_xlim(*result.lr_range)  # the whole range searched, so an empty end of it shows as such
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.0)
    ax.set_title(result.optimizer, fontsize=9)
    ax.tick_params(labelsize=7)
