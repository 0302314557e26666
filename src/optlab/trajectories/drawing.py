"""Trajectory pictures: paths over the function's contour plot (PNG), the same as an animation (GIF), and f
against step. One colour per optimizer, as in the report's figures."""

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
    ax.plot(*function.start, "ko", markersize=6)
    if function.minimum is not None:
        ax.plot(*function.minimum, "*", color="gold", markeredgecolor="k", markersize=16)
    ax.set_xlim(function.x_range)
    ax.set_ylim(function.y_range)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _figure(function: PlaneFunction, title: str) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(8.5, 7.5), dpi=100)
    _contours(ax, function)
    ax.set_title(title)
    return fig, ax


def _label(record: TrajectoryRecord) -> str:
    return f"{record.optimizer} (lr {record.lr:g})"


def draw_paths(records: Sequence[TrajectoryRecord], function: PlaneFunction, path: Path) -> Path:
    colours = optimizer_colours(r.optimizer for r in records)
    fig, ax = _figure(function, f"{function.name}: {len(records)} optimizers from {function.start}")
    for record in records:
        xy = np.asarray(record.points)
        ax.plot(xy[:, 0], xy[:, 1], "-", color=colours[record.optimizer], lw=1.6, label=_label(record))
        ax.plot(*xy[-1], "o", color=colours[record.optimizer], markersize=4)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_animation(records: Sequence[TrajectoryRecord], function: PlaneFunction, path: Path, frames: int) -> Path:
    """The paths growing step by step; `frames` frames over the longest path (GIF through Pillow)."""
    colours = optimizer_colours(r.optimizer for r in records)
    fig, ax = _figure(function, f"{function.name}")
    longest = max(len(r.points) for r in records)
    lines = [ax.plot([], [], "-", color=colours[r.optimizer], lw=1.6, label=_label(r))[0] for r in records]
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
    for record in records:
        ax.plot(record.values, color=colours[record.optimizer], lw=1.4, label=_label(record))
    if all(min(r.values) > 0 for r in records):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{function.name}(x, y)")
    ax.set_title(f"{function.name}: function value per step (a path that leaves the box is held where it left)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
