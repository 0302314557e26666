"""Trajectory pictures: paths over the function's contour plot (PNG), the same as an animation (GIF), and f
against step. One colour per optimizer, as in the report's figures.

The start, the known minimum and every path's end are marked and named in the legend, so the picture reads
without its caption. Two optimizers can trace the same path (ASGD is SGD until its averaging starts, which a
300-step descent never reaches): the later one is drawn dashed over the earlier and its legend entry says so,
rather than vanishing beneath it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from optlab.report.figures import optimizer_colours  # noqa: E402
from optlab.trajectories.functions import PlaneFunction  # noqa: E402
from optlab.trajectories.record import TrajectoryRecord  # noqa: E402

GRID = 300  # contour resolution per axis
GIF_DPI = 60  # ~500 px wide: a 60-frame animation of 16 paths stays near 1 MB
SAME_PATH = 1e-3  # paths this close at every step, as a fraction of the box's diagonal, are one


def _contours(ax: plt.Axes, function: PlaneFunction) -> None:
    xs = np.linspace(*function.x_range, GRID)
    ys = np.linspace(*function.y_range, GRID)
    x, y = np.meshgrid(xs, ys)
    z = function(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    if function.log_contours:
        shifted = z - z.min() + 1e-3
        levels = np.logspace(np.log10(shifted.min()), np.log10(shifted.max()), 30)
        ax.contourf(x, y, shifted, levels=levels, norm=LogNorm(), cmap="Greys_r", alpha=0.55)
    else:
        ax.contourf(x, y, z, levels=30, cmap="Greys_r", alpha=0.55)
    ax.plot(*function.start, "s", color="black", markersize=7, zorder=6, linestyle="none",
            label=f"start {_point(function.start)}")
    if function.minimum is not None:
        # hollow, so that a path ending at the minimum still shows its end inside the star
        ax.plot(*function.minimum, "*", markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.5,
                markersize=20, zorder=6, linestyle="none", label=f"minimum {_point(function.minimum)}")
        ax.annotate("minimum", function.minimum, xytext=(10, -14), textcoords="offset points", fontsize=9,
                    fontweight="bold", zorder=6)
    else:
        ax.plot([], [], " ", label="no minimum (f is unbounded below)")
    ax.set_xlim(function.x_range)
    ax.set_ylim(function.y_range)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _figure(function: PlaneFunction, title: str) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(8.5, 7.5), dpi=100)
    _contours(ax, function)
    ax.set_title(title)
    return fig, ax


def _point(xy: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in xy) + ")"


def _style(record: TrajectoryRecord, followed: dict[str, str]) -> dict:
    """Line keywords of a record's path or curve: solid, or dashed on top with "same path as ..." in its label when
    it follows an earlier record's (same_paths)."""
    twin = followed.get(record.optimizer)
    label = f"{record.optimizer} (lr {record.lr:g})" + (f": same path as {twin}" if twin else "")
    return {"label": label, "linestyle": (0, (3, 3)) if twin else "-", "zorder": 3 if twin else 2}


def same_paths(records: Sequence[TrajectoryRecord], function: PlaneFunction) -> dict[str, str]:
    """{optimizer: the earlier optimizer whose path it follows}: every point within SAME_PATH of the box's
    diagonal, at every step."""
    tolerance = SAME_PATH * float(np.hypot(np.ptp(function.x_range), np.ptp(function.y_range)))
    paths = {r.optimizer: np.asarray(r.points) for r in records}
    same = {}
    for i, record in enumerate(records):
        mine = paths[record.optimizer]
        twins = [earlier.optimizer for earlier in records[:i] if paths[earlier.optimizer].shape == mine.shape
                 and np.max(np.hypot(*(paths[earlier.optimizer] - mine).T)) <= tolerance]
        if twins:
            same[record.optimizer] = twins[0]
    return same


def draw_paths(records: Sequence[TrajectoryRecord], function: PlaneFunction, path: Path) -> Path:
    colours = optimizer_colours(r.optimizer for r in records)
    fig, ax = _figure(function, f"{function.name}: {len(records)} optimizers, each at its best lr of the grid")
    followed = same_paths(records, function)
    for record in records:
        xy = np.asarray(record.points)
        ax.plot(xy[:, 0], xy[:, 1], color=colours[record.optimizer], lw=1.6, **_style(record, followed))
        ax.plot(*xy[-1], "o", color=colours[record.optimizer], markeredgecolor="black", markersize=8, zorder=5)
    ax.plot([], [], "o", color="white", markeredgecolor="black", markersize=8, label="end of a path")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_animation(records: Sequence[TrajectoryRecord], function: PlaneFunction, path: Path, frames: int) -> Path:
    """The paths growing step by step; `frames` frames over the longest path (GIF through Pillow)."""
    colours = optimizer_colours(r.optimizer for r in records)
    fig, ax = _figure(function, f"{function.name}")
    longest = max(len(r.points) for r in records)
    followed = same_paths(records, function)
    lines = [ax.plot([], [], color=colours[r.optimizer], lw=1.6, **_style(r, followed))[0] for r in records]
    heads = [ax.plot([], [], "o", color=colours[r.optimizer], markersize=5)[0] for r in records]
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    steps = np.unique(np.linspace(1, longest, num=min(frames, longest)).astype(int))

    def show(step: int) -> list:
        for record, line, head in zip(records, lines, heads, strict=True):
            xy = np.asarray(record.points[:step])
            line.set_data(xy[:, 0], xy[:, 1])
            head.set_data([xy[-1, 0]], [xy[-1, 1]])
        ax.set_title(f"{function.name}, step {step - 1}")
        return [*lines, *heads]

    FuncAnimation(fig, show, frames=steps, blit=False).save(path, writer=PillowWriter(fps=12), dpi=GIF_DPI)
    plt.close(fig)
    return path


def draw_values(records: Sequence[TrajectoryRecord], function: PlaneFunction, path: Path) -> Path:
    """f against step: how fast each optimizer gets low (log scale where f stays positive)."""
    colours = optimizer_colours(r.optimizer for r in records)
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    followed = same_paths(records, function)
    for record in records:
        ax.plot(record.values, color=colours[record.optimizer], lw=1.4, **_style(record, followed))
    if all(min(r.values) > 0 for r in records):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{function.name}(x, y)")
    ax.set_title(f"{function.name}: function value per step (a path that leaves the box is held where it left)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
