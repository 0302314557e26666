"""One answer over several tasks: performance profiles and a critical-difference diagram of average ranks.

"Which optimizer for a small CNN?" is not answered by one data set. When a report's runs span several tasks (a
task: one data set), each task gets its own report and this module draws two figures over all:

- **Performance profiles** (Dolan & Moré 2002), as AlgoPerf scores optimizers: for each task, an optimizer's cost
  divided by the best optimizer's cost on that task; its profile is the fraction of tasks where that ratio is at
  most tau. Two costs: test error (1 - mean test accuracy over seeds) and epochs to the task's target validation
  accuracy (median over seeds, a miss is never). The score is the area under the profile for tau in [1, TAU_MAX],
  normalised to [0, 1] (AlgoPerf's), so 1 means best on every task.
- **A critical-difference diagram** (Demšar 2006, drawn by autorank): optimizers ranked within each block, a block
  being one seed of one task (the seeds within a task are independent training runs, but not independent tasks:
  the ranks say how these tasks rank them, not how every task would). Friedman's test, then Nemenyi's critical
  difference: optimizers joined by a bar are not separated. A run that did not finish ranks last in its block
  (its accuracy counts as 0). autorank needs at least five blocks.

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

from optlab.report.figures import LINE_STYLES, WIDTH, optimizer_colours, save
from optlab.report.runs import Run
from optlab.report.statistics import ALPHA
from optlab.run.summary import Status

TAU_MAX = 4.0  # AlgoPerf's upper limit of the performance ratio
MIN_BLOCKS = 5  # autorank's least number of blocks


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
    """One row per (task, seed) that every group ran, one column per group: the run's metric, 0 if it did not
    finish (it ranks last)."""
    rows = {}
    for task, by_group in groups_by_task.items():
        seeds = set.intersection(*({r.summary.seed for r in by_group[g]} for g in groups))
        for seed in sorted(seeds):
            rows[f"{task} seed {seed}"] = {
                g: float(np.mean([_value(r, metric) for r in by_group[g] if r.summary.seed == seed])) for g in groups}
    return pd.DataFrame.from_dict(rows, orient="index", columns=groups)


def _value(run: Run, metric: str) -> float:
    value = getattr(run.summary, metric)
    return value if run.summary.status == Status.OK and math.isfinite(value) else 0.0


def draw_profiles(frames: dict[str, pd.DataFrame], seeds: int, path: Path) -> tuple[Path, pd.DataFrame]:
    """One panel per cost; the legend lists groups by score. Returns the figure and the scores."""
    groups = list(next(iter(frames.values())).columns)
    colours = optimizer_colours(groups)
    fig, axes = plt.subplots(1, len(frames), figsize=(WIDTH, 4.4), sharey=True, squeeze=False)
    scores = {}
    for ax, (name, cost) in zip(axes[0], frames.items(), strict=True):
        taus, within, score = profiles(cost)
        scores[name] = score
        for i, group in enumerate(score.sort_values(ascending=False).index):
            ax.step(taus, within[group], where="post", color=colours[group],
                    linestyle=LINE_STYLES[i % len(LINE_STYLES)], linewidth=1.6,
                    label=f"{group} {score[group]:.2f}")
        ax.set_xlim(1.0, TAU_MAX)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"tau: {name} / the task's best {name}")
        ax.set_title(f"{name}: {within.attrs['tasks']} of {len(cost)} tasks that someone finished "
                     "(score: area under the profile)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", ncol=2 if len(groups) > 9 else 1, framealpha=0.9)
    axes[0][0].set_ylabel("fraction of tasks with ratio <= tau")
    tasks = len(next(iter(frames.values())))
    fig.suptitle(f"Performance profiles over {tasks} tasks ({seeds} seeds each, mean or median over seeds)",
                 fontsize=10)
    return save(fig, path), pd.DataFrame(scores)


def draw_critical_difference(blocks: pd.DataFrame, tasks: int, path: Path) -> tuple[Path | None, str]:
    """The diagram and a sentence on what it shows; no figure (the sentence says why) below MIN_BLOCKS blocks."""
    if len(blocks) < MIN_BLOCKS or blocks.shape[1] < 3:
        return None, (f"No critical-difference diagram: it needs at least {MIN_BLOCKS} blocks (task x seed) and 3 "
                      f"groups; these runs give {len(blocks)} and {blocks.shape[1]}.")
    with contextlib.redirect_stdout(io.StringIO()):  # autorank prints its test choice and tables: the report says it
        result = autorank(blocks, alpha=ALPHA, order="descending", force_mode="nonparametric")
        fig, ax = plt.subplots(figsize=(min(WIDTH, 5 + 0.25 * blocks.shape[1]), 1.4 + 0.22 * blocks.shape[1]))
        plot_stats(result, ax=ax, allow_insignificant=True)
    separated = result.pvalue < ALPHA
    title = (f"Average rank over {len(blocks)} blocks ({tasks} tasks x seeds); Friedman p = {result.pvalue:.2g}, "
             f"Nemenyi CD = {result.cd:.2f}" + ("" if separated else ": no group separated"))
    ax.set_title(title, fontsize=9, pad=28)
    best = result.rankdf["meanrank"].idxmin()  # rank 1: the highest accuracy in a block
    sentence = (f"Average ranks over {len(blocks)} blocks (one seed of one task each; {tasks} tasks): best "
                f"{best} ({result.rankdf['meanrank'].min():.2f}). Friedman's test p = {result.pvalue:.2g}; "
                + (f"groups whose average ranks differ by less than the critical difference {result.cd:.2f} "
                   "(joined by a bar) are not separated by Nemenyi's test." if separated else
                   "the ranks do not separate any group at this number of blocks."))
    return save(fig, path), sentence
