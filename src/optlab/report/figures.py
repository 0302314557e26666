"""The report's figures (matplotlib, PNG, readable at README width).

One colour per optimizer in every figure (groups of one optimizer, e.g. several learning rates, differ by line
style), from colorcet's Glasbey palette: its colours are chosen to stay apart from each other for any number of
groups (tab20's light halves of pairs did not, beyond 10).

The curve figures (loss and accuracy per epoch, loss against time, dynamics) answer "how did each optimizer
converge?", so no line is anonymous: one panel per optimizer family (FAMILIES), a few lines each, every line named
at its end in every panel. The panels of one quantity share their y range, so families compare. A loss axis stops
near the highest start: a line that climbs far above it (a divergence) would flatten every other one, so it leaves
the axis and its name says how high it went.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import colorcet  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm, to_rgb  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter  # noqa: E402

from optlab.report.runs import Run  # noqa: E402
from optlab.report.statistics import SEPARATED  # noqa: E402

WIDTH = 11.0  # inches at 110 dpi: about 1200 px, README width on a large screen
PANEL_HEIGHT = 2.5  # inches per row of curve panels
PANEL_LINES = 6  # most lines in one curve panel: a larger family is split over several panels
LINE_STYLES = ("-", "--", ":", "-.")
GREY = (0.72, 0.72, 0.72)
# Tick labels as plain numbers: 0.00001, 0.1, 2, 1000 (not 1e-05)
PLAIN = FuncFormatter(lambda value, _: np.format_float_positional(value, precision=6, trim="-"))
LABEL_GAP = 0.09  # least vertical distance between two line-end labels, as a fraction of a panel's height
CLIP_ABOVE = 2.0  # a loss line climbing beyond this many times the highest start leaves the axis, named with its peak
CLIP_BELOW = 0.15  # an accuracy line ending this far (15 points) below the best end leaves the axis, named with its end
# tab10 first, then 240-odd more distinct colours; greys left out, as grey means "not tested" or "other groups"
PALETTE = tuple(rgb for rgb in map(to_rgb, colorcet.glasbey_category10) if max(rgb) - min(rgb) > 0.15)
# The curve figures' panels: update rules that share an idea share a panel. Keyed by the conf/optimizer choice
# without its folder (textbook/adam is adam's; zoo/any's is its name=); a name not listed goes to OTHER.
FAMILIES: dict[str, tuple[str, ...]] = {
    "SGD family": ("sgd", "momentum", "nesterov", "asgd"),
    "Adam family": ("adam", "adamw", "nadam", "radam", "adamax", "sparseadam", "adabelief", "schedulefreeadamw"),
    "per-coordinate step sizes": ("adagrad", "rmsprop", "adadelta", "adafactor"),
    "sign, orthogonalised and second-order": ("lion", "rprop", "muon", "lbfgs"),
}
OTHER = "other optimizers"


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


def family(optimizer: str, label: str) -> str:
    """The family panel a group's lines go in (FAMILIES); zoo/any's optimizer is the name= in its group label."""
    name = optimizer.rsplit("/", 1)[-1]
    if name == "any":
        name = next((part.split("=", 1)[1] for part in label.split() if part.startswith("name=")), name)
    return next((title for title, members in FAMILIES.items() if name in members), OTHER)


def family_panels(groups: dict[str, list[Run]], order: list[str]) -> list[tuple[str, list[str]]]:
    """(panel title, its groups in `order`) in FAMILIES' order, OTHER last; a family of more than PANEL_LINES
    groups is split ("Adam family (1 of 2)") so that no panel is crowded."""
    members: dict[str, list[str]] = {}
    for label in order:
        members.setdefault(family(groups[label][0].summary.optimizer, label), []).append(label)
    panels = []
    for title in [*FAMILIES, OTHER]:
        labels = members.get(title, [])
        chunks = [labels[i:i + PANEL_LINES] for i in range(0, len(labels), PANEL_LINES)]
        panels += [(title if len(chunks) == 1 else f"{title} ({k} of {len(chunks)})", chunk)
                   for k, chunk in enumerate(chunks, start=1)]
    return panels


@dataclass(frozen=True)
class Curve:
    """One group's line as drawn: its mean indexed by x, and the band around it where there is one."""
    mean: pd.Series
    low: pd.Series | None = None
    high: pd.Series | None = None


@dataclass(frozen=True)
class CurveColumn:
    """One quantity of a curve figure: its panels (one per family) share this y axis."""
    name: str  # the y label, e.g. "validation loss"
    xlabel: str
    curve: Callable[[list[Run]], Curve]
    clip_rises: bool = False  # a loss: a line climbing far above every start leaves the axis (CLIP_ABOVE)
    percent: bool = False  # an accuracy: linear, in % as in the tables; a line ending far below the best leaves the
    # axis (CLIP_BELOW), so that one that never learns cannot squeeze the others into a sliver
    markers: bool = False  # a point per value, where the x values are uneven (seconds)


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


def mean_curve(column: str, band: str, source: str = "curves") -> Callable[[list[Run]], Curve]:
    """A group's mean of `column` over its runs, with the band (min-max or ±1 std) over them."""
    def curve(runs: list[Run]) -> Curve:
        stack = _stack(runs, column, source)
        return Curve(*_band(stack, band)) if not stack.empty else Curve(pd.Series(dtype=float))
    return curve


def loss_against_seconds(runs: list[Run]) -> Curve:
    """Validation loss against wall-clock seconds since training started (mean over seeds of both), at the
    validations that have both: paired by position, never by order, so a validation without a time (in runs
    written before validations were timed) is left out instead of shifting the others."""
    points = pd.concat({"loss": _stack(runs, "val_loss").mean(axis=1),
                        "seconds": _stack(runs, "val_elapsed_s").mean(axis=1)}, axis=1).dropna()
    return Curve(pd.Series(points["loss"].to_numpy(), index=points["seconds"].to_numpy()))


def _finite(series: pd.Series) -> pd.Series:
    return series[np.isfinite(series.to_numpy(dtype=float))]


def y_range(curves: list[pd.Series], clip_rises: bool, clip_falls: bool = False) -> tuple[float, float]:
    """The y range shared by one quantity's panels: all of every line; with clip_rises the top stops at the
    highest start, or at the highest peak within CLIP_ABOVE times it, so that a diverging line cannot flatten the
    others; with clip_falls the bottom covers only the lines that end within CLIP_BELOW of the best end, so that
    one far below (an accuracy that never rose) cannot squeeze the others."""
    lines = [line for line in map(_finite, curves) if not line.empty]
    if not lines:
        return 0.0, 1.0
    low, high = min(line.min() for line in lines), max(line.max() for line in lines)
    if clip_rises:
        start = max(line.iloc[0] for line in lines)
        high = max([start, *(line.max() for line in lines if line.max() <= CLIP_ABOVE * start)])
    if clip_falls:
        best = max(line.iloc[-1] for line in lines)
        low = min(line.min() for line in lines if line.iloc[-1] >= best - CLIP_BELOW)
    return float(low), float(high)


def _use_log_scale(ax: plt.Axes, low: float, high: float) -> None:
    """Log y from low to high, labelled in plain numbers (0.2, 0.5, 1, 2; not 2x10^-1) at as many steps per decade
    as the span leaves room for, the minor ticks unlabelled (their labels pile up: 0.9 0.8 0.7 ...)."""
    ax.set_yscale("log", nonpositive="mask")  # a zero (an update of nothing) leaves a gap, not a plunge
    ax.set_ylim(low / 1.08, high * 1.08)
    decades = math.log10(high / low)
    steps = (1, 2, 3, 4, 5, 6, 7, 8, 9) if decades < 0.6 else (1, 2, 3, 5) if decades < 1.5 else \
        (1, 2, 5) if decades < 3 else (1,)
    ax.yaxis.set_major_locator(LogLocator(subs=steps))
    ax.yaxis.set_major_formatter(PLAIN)
    ax.yaxis.set_minor_formatter(NullFormatter())


def _set_y(ax: plt.Axes, column: CurveColumn, lines: list[pd.Series], low: float, high: float) -> None:
    """Log y when the lines' positive values span more than a factor of 4 (it separates the lines bunched near the
    bottom; a zero, an update of nothing, leaves a gap); linear otherwise, and for an accuracy, in %."""
    values = pd.concat([_finite(line) for line in lines]) if lines else pd.Series(dtype=float)
    positive = values[(values > 0) & (values <= high)]
    if not column.percent and not positive.empty and high / positive.min() > 4:
        _use_log_scale(ax, float(positive.min()), high)
        return
    margin = 0.04 * (high - low) or 0.05 * abs(high) or 0.05
    ax.set_ylim(low - margin, high + margin)
    if column.percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def spread(targets: list[float], gap: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Heights for labels wanted at the sorted `targets`: at least `gap` apart and in the same order, each run of
    crowded labels centred on its own targets (so every label sits as near its line as the others allow), kept
    within [low, high] while they fit."""
    def start(cluster: list[float]) -> float:
        centred = sum(cluster) / len(cluster) - (len(cluster) - 1) * gap / 2
        return min(max(centred, low), high - (len(cluster) - 1) * gap)

    clusters: list[list[float]] = []
    for target in targets:
        clusters.append([target])
        while len(clusters) > 1 and start(clusters[-2]) + len(clusters[-2]) * gap > start(clusters[-1]):
            clusters[-2].extend(clusters.pop())
    return [start(cluster) + i * gap for cluster in clusters for i in range(len(cluster))]


def label_line_ends(ax: plt.Axes, lines: list[tuple[str, pd.Series, tuple]], percent: bool = False) -> set[str]:
    """Name each (label, line, colour) just right of the panel, level with its last point as far as the others
    allow (`spread`), joined to it by a dotted leader (not to be read as more of the line); a line that leaves the
    top of the axis is named at the top with its peak ("rprop ↑10.4"), one that ends below the bottom at the bottom
    with its end ("lbfgs ↓54.6%"). Returns the arrows used: which ways lines left the axis."""
    bottom, top = ax.get_ylim()
    to_axes = ax.transAxes.inverted()
    ends, arrows = [], set()
    for label, line, colour in lines:
        line = _finite(line)
        line = line[line > 0] if ax.get_yscale() == "log" else line
        if line.empty:
            continue
        x, y, peak = float(line.index[-1]), float(line.iloc[-1]), float(line.max())
        shown = min(max(y, bottom), top)
        height = to_axes.transform(ax.transData.transform((x, shown)))[1]
        if peak > top:
            arrows.add("↑")
            label = f"{label} ↑{peak:.3g}"
        elif y < bottom:
            arrows.add("↓")
            label = f"{label} ↓{y:.1%}" if percent else f"{label} ↓{y:.3g}"
        ends.append((height, label, colour, (x, shown)))
    ends.sort(key=lambda end: end[0])
    for (_, text, colour, point), height in zip(ends, spread([e[0] for e in ends], LABEL_GAP), strict=True):
        ax.annotate(text, xy=point, xytext=(1.04, height), textcoords="axes fraction", color=colour, fontsize=7,
                    va="center", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.7, "linestyle": (0, (1, 1.5)),
                                "shrinkA": 0, "shrinkB": 0})
    return arrows


def _plot(ax: plt.Axes, curve: Curve, style: tuple[tuple, str], markers: bool) -> None:
    colour, line_style = style
    ax.plot(curve.mean.index, curve.mean.to_numpy(), color=colour, linestyle=line_style, linewidth=1.6,
            marker="o" if markers or len(curve.mean) == 1 else None, markersize=2.5)  # one value: a dot, not nothing
    if curve.low is not None and curve.high is not None:
        ax.fill_between(curve.mean.index, curve.low.to_numpy(), curve.high.to_numpy(), color=colour, alpha=0.15,
                        linewidth=0)


def _grid(panels: int, quantities: int) -> tuple[plt.Figure, np.ndarray, int]:
    """(figure, axes, panels per row of one quantity): a row per family panel with a column per quantity, or for a
    single quantity the panels wrapped over two columns (a tall single column would waste README width)."""
    wrap = 1 if quantities > 1 else min(2, panels)
    rows = math.ceil(panels / wrap)
    width = max(WIDTH * 0.6, min(WIDTH * 1.25, WIDTH / 2 * wrap * quantities))
    fig, axes = plt.subplots(rows, wrap * quantities, figsize=(width, PANEL_HEIGHT * rows + 0.7), squeeze=False)
    for ax in axes.ravel()[panels * quantities:]:
        ax.set_visible(False)
    return fig, axes, wrap


def curve_grid(groups: dict[str, list[Run]], styles, order: list[str], columns: list[CurveColumn], title: str,
               path: Path) -> Path:
    """One row of panels per family panel (family_panels), one column per quantity; a single quantity's panels
    wrap over two columns. Every line is named at its end in every panel."""
    curves = {(label, c.name): c.curve(groups[label]) for label in order for c in columns}
    drawn = [label for label in order if any(not _finite(curves[label, c.name].mean).empty for c in columns)]
    panels = family_panels(groups, drawn) or [("no curves", [])]
    fig, axes, wrap = _grid(len(panels), len(columns))
    arrows: set[str] = set()
    for j, column in enumerate(columns):
        lines = [curves[label, column.name].mean for label in drawn]
        low, high = y_range(lines, column.clip_rises, clip_falls=column.percent)
        xs = [x for label in drawn for x in _finite(curves[label, column.name].mean).index]
        for p, (panel, labels) in enumerate(panels):
            ax = axes[p // wrap, (p % wrap) * len(columns) + j]
            for label in labels:
                _plot(ax, curves[label, column.name], styles[label], column.markers)
            _set_y(ax, column, lines, low, high)
            if xs and min(xs) < max(xs):  # one point (a single validation) keeps matplotlib's margins
                ax.set_xlim(min(xs), max(xs))
            ax.set_title(panel, fontsize=9)
            ax.set_ylabel(column.name, fontsize=8)
            ax.set_xlabel(column.xlabel if p >= len(panels) - wrap else "", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            arrows |= label_line_ends(ax, [(label, curves[label, column.name].mean, styles[label][0])
                                           for label in labels], percent=column.percent)
    notes = {"↑": "↑ n: the line rises beyond the axis, as high as n", "↓": "↓ n: the line ends below the axis, at n"}
    fig.suptitle("\n".join([title, *(notes[arrow] for arrow in sorted(arrows, reverse=True))]), fontsize=10)
    return save(fig, path)


def save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_by_epoch(groups, styles, order: list[str], band: str, title: str, path: Path) -> Path:
    columns = [CurveColumn("training loss", "epoch", mean_curve("train_loss", band), clip_rises=True),
               CurveColumn("validation loss", "epoch", mean_curve("val_loss", band), clip_rises=True)]
    return curve_grid(groups, styles, order, columns, title, path)


def convergence_by_epoch(groups, styles, order: list[str], band: str, title: str, path: Path) -> Path:
    """The course's convergence question in one figure: how fast the training loss falls and the validation
    accuracy rises, epoch by epoch (loss_by_epoch holds the validation loss, for overfitting)."""
    columns = [CurveColumn("training loss", "epoch", mean_curve("train_loss", band), clip_rises=True),
               CurveColumn("validation accuracy", "epoch", mean_curve("val_acc", band), percent=True)]
    return curve_grid(groups, styles, order, columns, title, path)


def loss_by_time(groups, styles, order: list[str], title: str, path: Path) -> Path:
    column = CurveColumn("validation loss", "seconds of training (validation included)", loss_against_seconds,
                         clip_rises=True, markers=True)
    return curve_grid(groups, styles, order, [column], title, path)


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
        marker = "*" if row.verdict == "reference" else ("x" if row.verdict in SEPARATED else "o")
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
    columns = [CurveColumn(name, "optimizer step", mean_curve(column, band, source="dynamics"))
               for column, name in (("grad_norm", "gradient norm"), ("update_norm", "update norm"),
                                    ("update_ratio", "update / weight norm"))]
    return curve_grid(groups, styles, order, columns, title, path)


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
