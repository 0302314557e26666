"""What one trajectory job writes (trajectory.json) and the multirun end reads back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from optlab.files import write_atomic

FILE_NAME = "trajectory.json"


@dataclass
class TrajectoryRecord:
    optimizer: str  # the conf/optimizer choice
    function: str
    status: str  # "ok" or "skipped"
    reason: str | None = None  # why it was skipped
    lr: float = float("nan")  # chosen on the grid
    lr_scores: dict[str, float] | None = None  # every grid lr -> its score (mean f over the steps)
    score: float = float("nan")  # the chosen lr's score
    points: list[tuple[float, float]] | None = None
    values: list[float] | None = None
    left_box_at: int | None = None

    def write(self, folder: Path) -> Path:
        return write_atomic(folder / FILE_NAME, json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> TrajectoryRecord:
        return cls(**json.loads(path.read_text()))


def read_records(folder: Path) -> list[TrajectoryRecord]:
    """Every trajectory.json under folder (a sweep's job folders, or a single run's folder), sorted by optimizer."""
    records = [TrajectoryRecord.read(p) for p in sorted(folder.rglob(FILE_NAME))]
    return sorted(records, key=lambda r: r.optimizer)
