"""One run's landscape numbers (landscape.json holds a list of them) and the table that sums them up."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from optlab.files import write_atomic


@dataclass
class Landscape:
    label: str  # the run's group, as the report names it (e.g. "adam" or "adam lr=0.1")
    optimizer: str
    seed: int
    folder: str
    alphas: list[float]
    line: list[float]  # loss at final + alpha * direction
    plane: list[list[float]]  # loss at final + alphas[j] * first + alphas[i] * second
    ts: list[float]
    interpolation: list[float]  # loss at (1 - t) initial + t final

    @property
    def centre(self) -> float:
        return self.line[len(self.line) // 2]

    @property
    def rise_at_half_span(self) -> float:
        """Mean loss at alpha = +-span/2 minus the centre's: how sharp the minimum is, in the filter-normalized
        scale that makes optimizers comparable."""
        quarter = len(self.line) // 4
        return (self.line[quarter] + self.line[-1 - quarter]) / 2 - self.centre

    @property
    def barrier(self) -> float:
        """Highest loss on the straight path from initial to final weights (0 <= t <= 1) above the higher end:
        0 when the path only goes down (Goodfellow et al. 2015 found none for many networks)."""
        inside = [loss for t, loss in zip(self.ts, self.interpolation, strict=True) if 0 <= t <= 1]
        return max(0.0, max(inside) - max(inside[0], inside[-1]))


def write_results(landscapes: list[Landscape], out: Path) -> Path:
    return write_atomic(out / "landscape.json", json.dumps([asdict(item) for item in landscapes], indent=1))


def render_table(landscapes: list[Landscape], title: str, skipped: list[str]) -> str:
    lines = [
        f"# Loss landscapes — {title}",
        "",
        "| run | loss at the final weights | rise at half span | barrier from the initial weights |",
        "|---|---|---|---|",
    ]
    for item in sorted(landscapes, key=lambda i: i.centre):
        lines.append(f"| {item.label} | {item.centre:.4f} | {item.rise_at_half_span:+.4f} | {item.barrier:.4f} |")
    if skipped:
        lines += ["", "Left out:", ""] + [f"- {reason}" for reason in skipped]
    lines += ["", "![1-D](landscape_1d.png)", "", "![2-D](landscape_2d.png)", "",
              "![interpolation](interpolation.png)"]
    return "\n".join(lines) + "\n"
