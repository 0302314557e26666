"""The report's figures (matplotlib, PNG, readable at README width).

One colour per optimizer in every figure (groups of one optimizer, e.g. several learning rates, differ by line
style), from colorcet's Glasbey palette: its colours are chosen to stay apart from each other for any number of
groups (tab20's light halves of pairs did not, beyond 10). Curve figures draw the best groups in colour, named at
the end of their lines (a long legend makes the reader match colours), and the rest in grey.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import colorcet  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm, to_rgb  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from optlab.report.runs import Run  # noqa: E402

WIDTH = 11.0  # inches at 110 dpi: about 1200 px, README width on a large screen
HIGHLIGHT = 6  # groups drawn in colour in the curve figures; the others in grey
LINE_STYLES = ("-", "--", ":", "-.")
GREY = (0.72, 0.72, 0.72)
# Tick labels as plain numbers: 0.00001, 0.1, 2, 1000 (not 1e-05)
PLAIN = FuncFormatter(lambda value, _: np.format_float_positional(value, precision=6, trim="-"))
LABEL_GAP = 0.055  # least vertical distance between two line-end labels, as a fraction of the axes' height
# tab10 first, then 240-odd more distinct colours; greys left out, as grey means "not tested" or "other groups"
PALETTE = tuple(rgb for rgb in map(to_rgb, colorcet.glasbey_category10) if max(rgb) - min(rgb) > 0.15)


def optimizer_colours(names: Iterable[str]) -> dict[str, tuple]:
    """One colour per optimizer (sorted names), the same in every figure of a set."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(names)))}


def group_styles(table: pd.DataFrame) -> dict[str, tuple[tuple, str]]:
    """(colour, line style) per group: the colour from its optimizer (sorted names, Glasbey), the style from its
    rank among groups of the same optimizer."""
    colour = optimizer_colours(table["optimizer"])
    styles, seen = {}, {}
    for row in table.itertuples():
        index = seen.get(row.optimizer, 0)
        seen[row.optimizer] = index + 1
        styles[row.group] = (colour[row.optimizer], LINE_STYLES[index % len(LINE_STYLES)])
    return styles


def _stack(runs: list[Run], column: str, source: str = "curves") -> pd.DataFrame:
    """One column per run, one row per position where the run has this value: epochs for `curves`, optimizer
    steps for `dynamics`."""
    frames = [(str(r.folder), getattr(r, source)) for r in runs]
    return pd.DataFrame({name: frame[column].dropna() for name, frame in frames if column in frame})


def _band(stack: pd.DataFrame, band: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    mean = stack.mean(axis=1)
    if band == "std":
        spread = stack.std(axis=1, ddof=1).fillna(0.0)
        return mean, mean - spread, mean + spread
    return mean, stack.min(axis=1), stack.max(axis=1)


def _use_log_scale(ax: plt.Axes) -> None:
    """Log y with plain tick labels (0.001, 0.3, 2) rather than 1e-03 or 3x10^-1; the minor ticks are labelled
    only while the axis spans less than two decades, so wide axes do not pile labels on top of each other."""
    ax.set_yscale("log", nonpositive="mask")  # a zero (an update of nothing) leaves a gap, not a plunge
    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(PLAIN)
    ax.yaxis.set_minor_formatter(PLAIN if low > 0 and high / low < 100 else NullFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)


def _log_scale_helps(values: list[pd.Series]) -> bool:
    """Log y when the curves span more than a factor of 4: it separates the curves bunched near the bottom."""
    joined = pd.concat(values) if values else pd.Series(dtype=float)
    joined = joined[np.isfinite(joined) & (joined > 0)]
    return not joined.empty and joined.max() / joined.min() > 4


def plot_metric(
    ax: plt.Axes, groups: dict[str, list[Run]], styles, order: list[str], column: str, band: str,
    source: str = "curves",
) -> list[pd.Series]:
    """Mean curve per group with a band over its runs; the first HIGHLIGHT of `order` in colour, on top (each
    named at its line's end by `label_line_ends`)."""
    means = []
    for rank, label in reversed(list(enumerate(order))):
        stack = _stack(groups[label], column, source)
        if stack.empty:
            continue
        mean, low, high = _band(stack, band)
        colour, style = styles[label] if rank < HIGHLIGHT else (GREY, "-")
        ax.plot(mean.index, mean.values, color=colour, linestyle=style, linewidth=1.8 if rank < HIGHLIGHT else 0.9,
                label=label if rank < HIGHLIGHT else None, zorder=3 if rank < HIGHLIGHT else 2)
        if rank < HIGHLIGHT:
            ax.fill_between(mean.index, low.values, high.values, color=colour, alpha=0.15, linewidth=0)
        means.append(mean)
    ax.set_xlabel("epoch" if source == "curves" else "optimizer step")
    ax.grid(alpha=0.3)
    return means


def label_line_ends(ax: plt.Axes, greyed: int) -> None:
    """Name each coloured line just right of the axes, level with its last point; labels that would overlap are
    pushed apart (LABEL_GAP), keeping their order. Grey lines get one label saying how many they are."""
    ends = []
    for line in ax.get_lines():
        label = line.get_label()
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        finite = np.isfinite(x) & np.isfinite(y) & (y > 0 if ax.get_yscale() == "log" else True)
        if label.startswith("_") or not finite.any():
            continue
        _, height = ax.transAxes.inverted().transform(ax.transData.transform((x[finite][-1], y[finite][-1])))
        ends.append([min(max(height, 0.0), 1.0), label, line.get_color()])
    ends.sort()
    for i in range(1, len(ends)):
        ends[i][0] = max(ends[i][0], ends[i - 1][0] + LABEL_GAP)
    overflow = ends[-1][0] - 1.0 if ends else 0.0
    for end in ends:
        end[0] -= max(overflow, 0.0)
    for height, label, colour in ends:
        ax.text(1.01, height, label, transform=ax.transAxes, color=colour, fontsize=8, va="center")
    if greyed > 0:
        ax.text(1.01, -0.06, f"grey: {greyed} other groups", transform=ax.transAxes, color="dimgrey", fontsize=7.5,
                va="center")


def save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_by_epoch(groups, styles, order: list[str], band: str, title: str, path: Path) -> Path:
    fig, (train_ax, val_ax) = plt.subplots(1, 2, figsize=(WIDTH, 4.2), sharex=True)
    for ax, column, name in ((train_ax, "train_loss", "training loss"), (val_ax, "val_loss", "validation loss")):
        means = plot_metric(ax, groups, styles, order, column, band)
        ax.set_ylabel(name)
        ax.set_title(name)
        if _log_scale_helps(means):
            _use_log_scale(ax)
    fig.suptitle(title, fontsize=10)
    label_line_ends(val_ax, len(order) - HIGHLIGHT)
    return save(fig, path)


def accuracy_by_epoch(groups, styles, order: list[str], band: str, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(WIDTH * 0.7, 4.2))
    plot_metric(ax, groups, styles, order, "val_acc", band)
    ax.set_ylabel("validation accuracy")
    ax.set_title(title, fontsize=10)
    label_line_ends(ax, len(order) - HIGHLIGHT)
    return save(fig, path)


def loss_by_time(groups, styles, order: list[str], title: str, path: Path) -> Path:
    """Validation loss against wall-clock seconds since training started (mean over seeds of both), at the
    validations that have both: paired by position, never by order, so a validation without a time (in runs
    written before validations were timed) is left out instead of shifting the others."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.7, 4.2))
    means = []
    for rank, label in reversed(list(enumerate(order))):
        points = pd.concat({"loss": _stack(groups[label], "val_loss").mean(axis=1),
                            "seconds": _stack(groups[label], "val_elapsed_s").mean(axis=1)}, axis=1).dropna()
        if points.empty:
            continue
        colour, style = styles[label] if rank < HIGHLIGHT else (GREY, "-")
        ax.plot(points["seconds"].values, points["loss"].values, color=colour, linestyle=style, marker="o",
                markersize=2.5 if rank < HIGHLIGHT else 1.5,
                label=label if rank < HIGHLIGHT else None, zorder=3 if rank < HIGHLIGHT else 2)
        means.append(points["loss"])
    if _log_scale_helps(means):
        _use_log_scale(ax)
    ax.set_xlabel("seconds of training (validation included)")
    ax.set_ylabel("validation loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    label_line_ends(ax, len(order) - HIGHLIGHT)
    return save(fig, path)


def ranking(table: pd.DataFrame, styles, time_ranges: dict[str, tuple[float, float]], title: str, path: Path) -> Path:
    """Left: the compared accuracy per group, mean with its 95% CI, best on top. Right: median epochs to the
    target with the range over seeds; a group whose median is a miss is marked "never" at the right edge."""
    metric = table["compared_on"].iloc[0]
    rows = table[table[metric].notna()].sort_values(metric, ascending=True)
    fig, (acc_ax, time_ax) = plt.subplots(1, 2, figsize=(WIDTH, 0.3 * len(rows) + 1.8), sharey=True)
    y = np.arange(len(rows))
    for i, row in enumerate(rows.itertuples()):
        colour = styles[row.group][0]
        mean, low, high = getattr(row, metric), getattr(row, f"{metric}_low"), getattr(row, f"{metric}_high")
        errors = [[mean - low], [high - mean]] if math.isfinite(low) else None
        acc_ax.errorbar(mean, i, xerr=errors, fmt="o", color=colour, capsize=3)
        marker = "*" if row.verdict == "reference" else ("o" if row.verdict == "indistinguishable" else "x")
        acc_ax.plot(mean, i, marker, color=colour, markersize=9 if marker == "*" else 6)
    acc_ax.set_yticks(y, rows["group"])
    acc_ax.set_xlabel(f"{metric.replace('_', ' ')} (mean, 95% CI over seeds; * reference, x separated from it)")
    acc_ax.grid(axis="x", alpha=0.3)
    finite = [v for v in rows["epochs_to_target"] if math.isfinite(v)] + \
             [hi for g in rows["group"] for hi in [time_ranges.get(g, (math.nan, math.nan))[1]] if math.isfinite(hi)]
    edge = (max(finite) if finite else 1.0) * 1.12
    for i, row in enumerate(rows.itertuples()):
        median = row.epochs_to_target
        if not math.isfinite(median) and math.isnan(median):
            continue
        low, high = time_ranges.get(row.group, (median, median))
        shown_high = min(high, edge)
        if math.isinf(median):
            time_ax.text(edge, i, "never", va="center", ha="right", fontsize=8, color=styles[row.group][0])
            continue
        time_ax.plot([low, shown_high], [i, i], color=styles[row.group][0], linewidth=2, alpha=0.5)
        time_ax.plot(median, i, "o", color=styles[row.group][0])
    target = table["target_acc"].dropna()
    name = f"{target.iloc[0]:.0%}" if len(target) and target.nunique() == 1 else "target"
    time_ax.set_xlabel(f"epochs to {name} validation accuracy (median, range over seeds)")
    time_ax.set_xlim(0, edge * 1.02)
    time_ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def cost_bars(table: pd.DataFrame, styles, title: str, path: Path) -> Path:
    """Time per epoch and optimizer-state memory, one bar per group."""
    rows = table.sort_values("group")
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(WIDTH, 0.28 * len(rows) + 1.6), sharey=True)
    bar_colours = [styles[g][0] for g in rows["group"]]
    time_ax.barh(rows["group"], rows["epoch_time_s"], color=bar_colours)
    time_ax.set_xlabel("seconds per epoch (mean over runs)")
    memory_ax.barh(rows["group"], rows["optimizer_state_bytes"] / 2**10, color=bar_colours)
    memory_ax.set_xlabel("optimizer state (KiB)")
    time_ax.invert_yaxis()
    for ax in (time_ax, memory_ax):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def dynamics(groups, styles, order: list[str], band: str, title: str, path: Path) -> Path | None:
    """Whole-network gradient norm, update norm and update/weight ratio per optimizer step (optlab.run.dynamics);
    None when no run logged them."""
    if not any(not r.dynamics.empty for runs in groups.values() for r in runs):
        return None
    panels = (("grad_norm", "gradient norm"), ("update_norm", "update norm"),
              ("update_ratio", "update / weight norm"))
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH * 1.2, 3.8), sharex=True)
    for ax, (column, name) in zip(axes, panels, strict=True):
        means = plot_metric(ax, groups, styles, order, column, band, source="dynamics")
        ax.set_title(name, fontsize=10)
        if _log_scale_helps(means):  # the norms of different optimizers span decades
            _use_log_scale(ax)
    fig.suptitle(title, fontsize=10)
    label_line_ends(axes[-1], len(order) - HIGHLIGHT)
    return save(fig, path)


def layer_drift(groups, order: list[str], title: str, path: Path) -> Path | None:
    """Heatmap, group x layer: ||w_final - w_initial|| / ||w_initial||, mean over the group's runs (log colour
    scale: optimizers differ by orders of magnitude). None when no run recorded its drift."""
    rows = {}
    for label in order:
        drifts = [r.summary.layer_drift for r in groups[label] if r.summary.layer_drift]
        if drifts:
            rows[label] = pd.DataFrame(drifts).mean(axis=0)
    if not rows:
        return None
    table = pd.DataFrame(rows).T  # columns in the model's layer order (the first run's)
    values = table.to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    norm = LogNorm(positive.min(), positive.max()) if positive.size and positive.max() > positive.min() else None
    fig, ax = plt.subplots(figsize=(min(WIDTH, 2.2 + 0.9 * table.shape[1]), 1.2 + 0.32 * table.shape[0]))
    image = ax.imshow(np.where(values > 0, values, np.nan), aspect="auto", cmap="viridis", norm=norm)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=6.5, color="white")
    bar = fig.colorbar(image, ax=ax, label="||w - w0|| / ||w0||")
    bar.ax.yaxis.set_major_formatter(PLAIN)  # 0.01, 0.1, 1 rather than 10^-2
    bar.ax.yaxis.set_minor_formatter(PLAIN if norm is not None and norm.vmax / norm.vmin < 30 else NullFormatter())
    ax.set_title(title, fontsize=10)
    return save(fig, path)
