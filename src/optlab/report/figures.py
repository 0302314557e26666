"""The report's figures (matplotlib, PNG, readable at README width). One colour per group in every figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogFormatter, MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from optlab.report.runs import Run  # noqa: E402

WIDTH = 11.0  # inches at 110 dpi: about 1200 px, README width on a large screen


def group_colours(labels: list[str]) -> dict[str, tuple]:
    """A fixed colour per group, assigned in sorted order so every figure of a report agrees."""
    palette = plt.get_cmap("tab20").colors
    return {label: palette[i % len(palette)] for i, label in enumerate(sorted(labels))}


def _stack(runs: list[Run], column: str) -> pd.DataFrame:
    """One column per run, one row per epoch."""
    series = {str(r.folder): r.curves[column] for r in runs if not r.curves.empty}
    return pd.DataFrame(series)


def _band(stack: pd.DataFrame, band: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    mean = stack.mean(axis=1)
    if band == "std":
        spread = stack.std(axis=1, ddof=1).fillna(0.0)
        return mean, mean - spread, mean + spread
    return mean, stack.min(axis=1), stack.max(axis=1)


def _use_log_scale(ax: plt.Axes) -> None:
    """Log y with plain tick labels (0.3, 1, 2) rather than 3x10^-1; LogFormatter labels the minor ticks only
    while the axis spans few decades, so wide axes do not pile labels on top of each other."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(LogFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)


def _log_scale_helps(values: list[pd.Series]) -> bool:
    """Log y when the curves span more than a factor of 4: it separates the curves bunched near the bottom."""
    joined = pd.concat(values) if values else pd.Series(dtype=float)
    joined = joined[np.isfinite(joined) & (joined > 0)]
    return not joined.empty and joined.max() / joined.min() > 4


def plot_metric_by_epoch(
    ax: plt.Axes, groups: dict[str, list[Run]], colours: dict[str, tuple], column: str, band: str
) -> list[pd.Series]:
    means = []
    for label, runs in groups.items():
        stack = _stack(runs, column)
        if stack.empty or stack.isna().all().all():
            continue
        mean, low, high = _band(stack, band)
        ax.plot(mean.index, mean.values, color=colours[label], label=label, linewidth=1.6)
        ax.fill_between(mean.index, low.values, high.values, color=colours[label], alpha=0.18, linewidth=0)
        means.append(mean)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return means


def _legend(fig: plt.Figure, ax: plt.Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_by_epoch(groups, colours, band: str, title: str, path: Path) -> Path:
    fig, (train_ax, val_ax) = plt.subplots(1, 2, figsize=(WIDTH, 4.2), sharex=True)
    for ax, column, name in ((train_ax, "train_loss", "training loss"), (val_ax, "val_loss", "validation loss")):
        means = plot_metric_by_epoch(ax, groups, colours, column, band)
        ax.set_ylabel(name)
        ax.set_title(name)
        if _log_scale_helps(means):
            _use_log_scale(ax)
    fig.suptitle(title, fontsize=10)
    _legend(fig, val_ax)
    return _save(fig, path)


def accuracy_by_epoch(groups, colours, band: str, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(WIDTH * 0.7, 4.2))
    plot_metric_by_epoch(ax, groups, colours, "val_acc", band)
    ax.set_ylabel("validation accuracy")
    ax.set_title(title, fontsize=10)
    _legend(fig, ax)
    return _save(fig, path)


def loss_by_time(groups, colours, title: str, path: Path) -> Path:
    """Validation loss against wall-clock seconds since training started (mean over seeds of both)."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.7, 4.2))
    means = []
    for label, runs in groups.items():
        loss, seconds = _stack(runs, "val_loss").mean(axis=1), _stack(runs, "elapsed_s").mean(axis=1)
        if loss.dropna().empty:
            continue
        ax.plot(seconds.values, loss.values, color=colours[label], label=label, marker="o", markersize=2.5)
        means.append(loss)
    if _log_scale_helps(means):
        _use_log_scale(ax)
    ax.set_xlabel("seconds of training (validation included)")
    ax.set_ylabel("validation loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    _legend(fig, ax)
    return _save(fig, path)


def cost_bars(table: pd.DataFrame, colours, title: str, path: Path) -> Path:
    """Time per epoch and optimizer-state memory, one bar per group."""
    rows = table.sort_values("group")
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(WIDTH, 0.28 * len(rows) + 1.6), sharey=True)
    bar_colours = [colours[g] for g in rows["group"]]
    time_ax.barh(rows["group"], rows["epoch_time_s"], color=bar_colours)
    time_ax.set_xlabel("seconds per epoch (mean over runs)")
    memory_ax.barh(rows["group"], rows["optimizer_state_bytes"] / 2**10, color=bar_colours)
    memory_ax.set_xlabel("optimizer state (KiB)")
    time_ax.invert_yaxis()
    for ax in (time_ax, memory_ax):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
