"""Landscape pictures: loss along one direction, contours on a plane, and the line from the initial weights."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from optlab.landscape.result import Landscape  # noqa: E402
from optlab.report.figures import optimizer_colours  # noqa: E402


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
    ax.set_xlabel(xlabel)
    ax.set_ylabel("training loss (fixed subset)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_line(landscapes: list[Landscape], title: str, path: Path) -> Path:
    return _line_figure(landscapes, "alphas", "line", "step along one filter-normalized random direction",
                        f"Loss around the final weights (1-D) — {title}", path)


def draw_interpolation(landscapes: list[Landscape], title: str, path: Path) -> Path:
    return _line_figure(landscapes, "ts", "interpolation", "t: (1 - t) initial + t final weights",
                        f"From the shared initial weights (t=0) to each optimizer's (t=1) — {title}", path)


def draw_planes(landscapes: list[Landscape], title: str, path: Path) -> Path:
    """One contour panel per run, all on the same log-spaced levels so that the panels compare."""
    columns = min(4, len(landscapes))
    rows = math.ceil(len(landscapes) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), dpi=110, squeeze=False)
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
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(landscapes):]:
        ax.axis("off")
    fig.colorbar(contour, ax=axes, shrink=0.8, label="training loss (fixed subset)")
    fig.suptitle(f"Loss on a plane of two filter-normalized directions around the final weights (+) — {title}",
                 fontsize=10)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
