"""Landscape pictures: loss along one direction, contours on a plane, and the line from the initial weights.

The title carries what the pictures depend on and a reader cannot see: the seed, the images the loss is measured
on, and whether the runs were tuned (a sharp minimum of an untuned default says little about the tuned optimizer)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from optlab.landscape.result import Landscape  # noqa: E402
from optlab.report.figures import PLAIN, optimizer_colours  # noqa: E402

DIRECTION = "a random direction, filter-normalised"  # what the axes of the 1-D and 2-D pictures step along


def _colours(landscapes: list[Landscape]) -> dict[str, tuple]:
    return optimizer_colours(item.optimizer for item in landscapes)


def _line_figure(landscapes: list[Landscape], xs_name: str, ys_name: str, xlabel: str, title: str,
                 path: Path) -> Path:
    colours = _colours(landscapes)
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    for item in landscapes:
        ax.plot(getattr(item, xs_name), getattr(item, ys_name), color=colours[item.optimizer], lw=1.6,
                label=item.label)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PLAIN)  # 0.1, 1, 10 rather than 10^-1
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("training loss (fixed subset)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_line(landscapes: list[Landscape], title: str, path: Path) -> Path:
    return _line_figure(landscapes, "alphas", "line", f"step along {DIRECTION}",
                        f"Loss around the final weights (1-D)\n{title}", path)


def draw_interpolation(landscapes: list[Landscape], title: str, path: Path) -> Path:
    return _line_figure(landscapes, "ts", "interpolation", "t: (1 - t) initial + t final weights",
                        f"From the shared initial weights (t=0) to each optimizer's (t=1)\n{title}", path)


def colour_bar_ticks(low: float, high: float) -> list[float]:
    """Loss values at 1-2-5 steps between low and high, for a log colour bar labelled in plain numbers (the
    default's ticks fall on the contour levels, printed as 1.30795x10^1)."""
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = [step * 10.0**decade for decade in decades for step in (1, 2, 5) if low <= step * 10.0**decade <= high]
    return ticks if len(ticks) >= 2 else [low, high]


def draw_planes(landscapes: list[Landscape], title: str, path: Path) -> Path:
    """One contour panel per run, all on the same log-spaced levels so that the panels compare."""
    columns = min(4, len(landscapes))
    rows = math.ceil(len(landscapes) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows + 0.6), dpi=110, squeeze=False,
                             layout="constrained")  # keeps the shared axis labels and the title next to the panels
    values = np.concatenate([np.asarray(item.plane).ravel() for item in landscapes])
    values = values[np.isfinite(values)]
    levels = np.geomspace(max(values.min(), 1e-4), values.max(), 25) if values.size else 25
    for ax, item in zip(axes.ravel(), landscapes, strict=False):
        alphas = np.asarray(item.alphas)
        plane = np.asarray(item.plane)
        contour = ax.contourf(alphas, alphas, np.clip(plane, levels[0], levels[-1]), levels=levels,
                              cmap="viridis", norm=matplotlib.colors.LogNorm())
        ax.plot(0, 0, "r+", markersize=10)
        ax.set_title(item.label, fontsize=8)
        ticks = np.linspace(alphas[0], alphas[-1], 5)  # the defaults' nine crowd a 3-inch panel
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(landscapes):]:
        ax.axis("off")
    bar = fig.colorbar(contour, ax=axes, shrink=0.8, label="training loss (fixed subset; log scale)",
                       ticks=colour_bar_ticks(levels[0], levels[-1]))
    bar.ax.yaxis.set_major_formatter(PLAIN)
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    fig.supxlabel(f"step along direction 1 ({DIRECTION}; 0 = the final weights, +)", fontsize=9)
    fig.supylabel(f"step along direction 2 ({DIRECTION})", fontsize=9)
    fig.suptitle(f"Training loss on a plane through each run's final weights (+)\n{title}", fontsize=10)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
