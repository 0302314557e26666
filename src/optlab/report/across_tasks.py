"""One answer over several tasks: performance profiles and a critical-difference diagram of average ranks.

"Which optimizer for a small CNN?" is not answered by one data set. When a report's runs span several tasks (a
task: one data set), each task gets its own report and this module draws two figures over all:

- **Performance profiles** (Dolan & Moré 2002), as AlgoPerf scores optimizers: for each task, an optimizer's cost
  divided by the best optimizer's cost on that task; its profile is the fraction of tasks where that ratio is at
  most tau. Two costs: test error (1 - mean test accuracy over seeds) and epochs to the task's target validation
  accuracy (median over seeds, a miss is never). The score is the area under the profile for tau in [1, TAU_MAX],
  normalised to [0, 1] (AlgoPerf's), so 1 means best on every task.
- **A critical-difference diagram** (Demšar 2006, drawn by autorank): optimizers ranked within each block, a block
  being one task, its value each optimizer's mean over the task's seeds. Seeds are not blocks: three seeds of one
  task are repeated runs of that task, not three more tasks, and counting them as independent blocks let Friedman's
  test claim p = 2.1e-13 from three tasks. Friedman's test, then Nemenyi's critical difference: optimizers joined by
  a bar are not separated. A run that did not finish counts as 0 in its task's mean. autorank needs at least five
  blocks; with fewer tasks the report gives the mean ranks as a description and says that no test was made.

Only groups present in every task are compared; the others are named in the report.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from autorank import autorank, plot_stats

from optlab.report.figures import GREY, LINE_STYLES, WIDTH, optimizer_colours, save
from optlab.report.runs import Run
from optlab.report.statistics import ALPHA, TIE
from optlab.run.summary import Status

TAU_MAX = 4.0  # AlgoPerf's upper limit of the performance ratio
MIN_BLOCKS = 5  # autorank's least number of blocks
DECIMALS = round(-math.log10(TIE))  # block values equal to this many decimals tie (statistics.TIE)


def split_by_task(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs by data set, the task; within a task the report groups them as usual (by optimizer, and by model or
    anything else the runs vary)."""
    tasks: dict[str, list[Run]] = {}
    for run in runs:
        tasks.setdefault(run.summary.data, []).append(run)
    return dict(sorted(tasks.items()))


def common_groups(tables: dict[str, pd.DataFrame], metric: str) -> tuple[list[str], list[str]]:
    """(groups that ran in every task and finished somewhere, the rest); `metric`: the compared accuracy."""
    every = set.intersection(*(set(t["group"]) for t in tables.values()))
    finished = {g for t in tables.values() for g in t.loc[t[metric].notna(), "group"]}
    everywhere = sorted(every & finished)
    others = sorted(set().union(*(set(t["group"]) for t in tables.values())) - set(everywhere))
    return everywhere, others


def costs(tables: dict[str, pd.DataFrame], groups: list[str], metric: str) -> dict[str, pd.DataFrame]:
    """Per cost (the error of the compared accuracy `metric`, epochs to target): a task x group frame; a group that
    never finished costs inf."""
    frames = {}
    error = "test error" if metric == "test_acc" else "validation error"
    for name, column in ((error, metric), ("epochs to target", "epochs_to_target")):
        frame = pd.DataFrame({task: t.set_index("group").reindex(groups)[column] for task, t in tables.items()}).T
        frame = 1 - frame if column == metric else frame
        if frame.isna().all().all():
            continue  # no target was set for any task
        frames[name] = frame.fillna(math.inf)
    return frames


def profiles(cost: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, pd.Series]:
    """(taus, fraction of tasks within tau per group, AlgoPerf score per group) for a task x group cost frame,
    over the tasks that have a ratio (within.attrs["tasks"] says how many)."""
    best = cost.replace(math.inf, np.nan).min(axis=1)
    ratios = cost.div(best.where(best > 0), axis=0)  # a task nobody finished, or solved with zero error: no ratio
    ratios = ratios[best.notna() & (best > 0)]
    taus = np.linspace(1.0, TAU_MAX, 601)
    within = pd.DataFrame({g: [(ratios[g] <= tau).mean() for tau in taus] for g in cost.columns}, index=taus)
    within.attrs["tasks"] = len(ratios)
    score = within.apply(lambda column: np.trapezoid(column.to_numpy(), taus) / (TAU_MAX - 1))
    return taus, within, score


def rank_blocks(groups_by_task: dict[str, dict[str, list[Run]]], groups: list[str], metric: str) -> pd.DataFrame:
    """One row per task, one column per group: the group's metric averaged over the seeds every group ran in that
    task (a run that did not finish counts as 0), rounded to DECIMALS so that a float tie ranks as a tie."""
    rows = {}
    for task, by_group in groups_by_task.items():
        seeds = set.intersection(*({r.summary.seed for r in by_group[g]} for g in groups))
        if seeds:  # a task where no seed was run by every group has no block
            rows[task] = {g: float(np.mean([_value(r, metric) for r in by_group[g] if r.summary.seed in seeds]))
                          for g in groups}
    return pd.DataFrame.from_dict(rows, orient="index", columns=groups).round(DECIMALS)


def mean_ranks(blocks: pd.DataFrame) -> pd.Series:
    """Each group's rank within a task (1 = highest, ties share the average), averaged over the tasks."""
    return blocks.rank(axis=1, ascending=False).mean()


def _value(run: Run, metric: str) -> float:
    value = getattr(run.summary, metric)
    return value if run.summary.status == Status.OK and math.isfinite(value) else 0.0


def draw_profiles(frames: dict[str, pd.DataFrame], seeds: int, path: Path,
                  highlight: int = 4) -> tuple[Path, pd.DataFrame]:
    """One panel per cost, each a Dolan & Moré performance-ratio profile (AlgoPerf's kind; not rliable's
    distribution of scores): the `highlight` groups of highest score in colour, named in a legend under the panel
    (where it hides no curve), the others thin and grey, since a dozen step curves over a few tasks coincide.
    Returns the figure and every group's scores (the report's table lists them all)."""
    groups = list(next(iter(frames.values())).columns)
    colours = optimizer_colours(groups)
    fig, axes = plt.subplots(1, len(frames), figsize=(WIDTH, 5.2), sharey=True, squeeze=False)
    scores = {}
    for ax, (name, cost) in zip(axes[0], frames.items(), strict=True):
        taus, within, score = profiles(cost)
        scores[name] = score
        ranked = list(score.sort_values(ascending=False, kind="stable").index)
        for group in ranked[highlight:]:
            ax.step(taus, within[group], where="post", color=GREY, linewidth=0.9, zorder=2)
        for i, group in enumerate(ranked[:highlight]):
            ax.step(taus, within[group], where="post", color=colours[group], linewidth=2.0, zorder=3,
                    linestyle=LINE_STYLES[i % len(LINE_STYLES)], label=f"{group} (score {score[group]:.2f})")
        if len(ranked) > highlight:
            ax.plot([], [], color=GREY, linewidth=0.9, label=f"grey: the {len(ranked) - highlight} others (table)")
        ax.set_xlim(1.0, TAU_MAX)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"τ = {name} ÷ the task's best {name}")
        ax.set_title(f"{name}: {within.attrs['tasks']} of {len(cost)} tasks that someone finished", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    axes[0][0].set_ylabel("fraction of tasks with ratio ≤ τ")
    tasks = len(next(iter(frames.values())))
    fig.suptitle(f"Performance-ratio profiles (Dolan & Moré, as AlgoPerf scores) over {tasks} tasks, {seeds} seeds "
                 "each (mean or median over seeds): the fraction of tasks on which an optimizer's cost is within τ "
                 f"times the best; higher and further left is better. Score: area under the profile for τ from 1 to "
                 f"{TAU_MAX:g}, 1 = best on every task", fontsize=9, wrap=True)
    return save(fig, path), pd.DataFrame(scores)


def draw_critical_difference(blocks: pd.DataFrame, path: Path, metric: str) -> tuple[Path | None, str]:
    """The diagram and a sentence on what it shows; no figure and no p-value (the sentence says why) below
    MIN_BLOCKS tasks."""
    tasks = len(blocks)
    if tasks < MIN_BLOCKS or blocks.shape[1] < 3:
        return None, (f"No critical-difference diagram and no Friedman test: its blocks are tasks (each task's mean "
                      f"over its seeds; seeds of one task are not further tasks), and it needs at least {MIN_BLOCKS} "
                      f"tasks and 3 groups; these runs give {tasks} and {blocks.shape[1]}. The mean ranks describe "
                      f"these {tasks} tasks and test nothing.")
    with contextlib.redirect_stdout(io.StringIO()):  # autorank prints its test choice and tables: the report says it
        result = autorank(blocks, alpha=ALPHA, order="descending", force_mode="nonparametric")
        fig, ax = plt.subplots(figsize=(min(WIDTH, 5 + 0.25 * blocks.shape[1]), 1.4 + 0.22 * blocks.shape[1]))
        plot_stats(result, ax=ax, allow_insignificant=True)
    separated = result.pvalue < ALPHA
    # The figure says what was ranked and which way, not only the report's text.
    name = {"test_acc": "test accuracy", "val_acc": "validation accuracy"}.get(metric, metric.replace("_", " "))
    title = (f"Mean rank of {name} over {tasks} tasks (seeds averaged within each); rank 1 = best, the highest "
             f"{name} (right)\nFriedman p = {result.pvalue:.2g}, Nemenyi CD = {result.cd:.2f}"
             + ("; groups joined by a bar are not separated" if separated else ": no group separated"))
    ax.set_title(title, fontsize=9, pad=28)
    best = result.rankdf["meanrank"].idxmin()  # rank 1: the highest accuracy in a block
    sentence = (f"Average ranks over {tasks} tasks (each task one block, its seeds averaged): lowest "
                f"mean rank {best} ({result.rankdf['meanrank'].min():.2f}). Friedman's test p = {result.pvalue:.2g}; "
                + (f"groups whose average ranks differ by less than the critical difference {result.cd:.2f} "
                   "(joined by a bar) are not separated by Nemenyi's test." if separated else
                   "the ranks do not separate any group at this number of blocks."))
    return save(fig, path), sentence
