"""Everything a trajectory run or sweep produces from its trajectory.json files: the paths (PNG), their animation
(GIF), f per step (PNG) and trajectories.md, a table of the chosen learning rates and where each path ended."""

from __future__ import annotations

import math
from pathlib import Path

from optlab.files import write_atomic
from optlab.trajectories.drawing import draw_animation, draw_paths, draw_values
from optlab.trajectories.functions import PlaneFunction
from optlab.trajectories.record import TrajectoryRecord, read_records


def write_outputs(folder: Path, function: PlaneFunction, steps: int, frames: int) -> list[Path]:
    """Draw every finished trajectory under folder into it; returns the files written (the table at least)."""
    records = read_records(folder)
    traced = [r for r in records if r.status == "ok"]
    drawn = []
    if traced:
        drawn = [
            draw_paths(traced, function, folder / "trajectories.png"),
            draw_animation(traced, function, folder / "trajectories.gif", frames),
            draw_values(traced, function, folder / "values.png"),
        ]
    table = write_atomic(folder / "trajectories.md", render_table(records, function, steps))
    return [*drawn, table]


def _distance(record: TrajectoryRecord, function: PlaneFunction) -> str:
    if function.minimum is None:
        return "—"
    x, y = record.points[-1]
    return f"{math.dist((x, y), function.minimum):.3g}"


def render_table(records: list[TrajectoryRecord], function: PlaneFunction, steps: int) -> str:
    lines = [
        f"# {function.name} from {tuple(function.start)}, {steps} steps per learning rate",
        "",
        "Each optimizer's lr is the grid value with the lowest mean function value over the steps; a path that",
        "leaves the drawn box is stopped where it left.",
        "",
        "| optimizer | lr | final f | distance to minimum | left the box at step |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        if r.status != "ok":
            lines.append(f"| {r.optimizer} | skipped: {r.reason} | | | |")
            continue
        left = str(r.left_box_at) if r.left_box_at is not None else "—"
        lines.append(f"| {r.optimizer} | {r.lr:g} | {r.values[-1]:.4g} | {_distance(r, function)} | {left} |")
    return "\n".join(lines) + "\n"
