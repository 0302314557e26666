"""summary.json: one run's outcome and final numbers, the file the report and resume read first.

Written atomically (temp file + rename) so that an interrupted run never leaves half a file behind.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from optlab.files import first_line, write_atomic

FILENAME = "summary.json"


class Status(str, Enum):
    """What became of a run; a str, so summary.json holds the plain word."""

    RUNNING = "running"  # started, not ended (a crash of the whole process leaves this)
    OK = "ok"
    DIVERGED = "diverged"  # stopped by the divergence guard: a result, not an error
    PRUNED = "pruned"  # stopped by a search's pruner: its validation accuracy fell behind other trials' at a rung
    SKIPPED = "skipped"  # the optimizer does not apply (SparseAdam on dense weights)
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


FINISHED = (Status.OK, Status.DIVERGED, Status.PRUNED, Status.SKIPPED)  # resume=true leaves these; the others run again


def epochs_text(epochs: float) -> str:
    """`1 epoch`, `5 epochs`, `0.33 epochs`: how far a run trained, as progress lines and reasons say it."""
    if epochs == 1:
        return "1 epoch"
    return f"{epochs:.0f} epochs" if epochs == int(epochs) else f"{epochs:.2f} epochs"


class SummaryError(ValueError):
    """A summary.json that exists but cannot be read (truncated, edited by hand, not optlab's)."""


@dataclass
class RunSummary:
    optimizer: str
    data: str
    model: str
    scheduler: str
    precision: str
    seed: int
    lr: float | None
    status: Status = Status.RUNNING
    reason: str = ""
    epochs: int = 0
    steps: int = 0  # optimizer steps taken; with steps_per_epoch, how far a run stopped mid-epoch got
    steps_per_epoch: int = 0
    train_loss: float = math.nan
    val_loss: float = math.nan
    val_acc: float = math.nan
    best_val_acc: float = math.nan
    test_loss: float = math.nan
    test_acc: float = math.nan
    classes: list[str] = field(default_factory=list)  # label i is classes[i]: the data set's class names
    test_acc_per_class: dict[str, float] = field(default_factory=dict)  # NaN for a class the test set lacks
    epoch_time_s: float = math.nan
    val_time_s: float = math.nan  # of which validation
    epoch_times_s: list[float] = field(default_factory=list)  # each epoch's (the benchmark takes their median)
    train_time_s: float = math.nan
    params: int = 0
    optimizer_state_bytes: int = 0
    diverged_step: int | None = None
    diverged_epoch: int | None = None
    evaluations_per_step: float = math.nan  # loss evaluations per optimizer step: 1, more for L-BFGS
    target_acc: float | None = None  # report.target_acc when the run started: fixed before any result
    param_assignment: dict[str, list[str]] = field(default_factory=dict)
    # Per layer, how far training moved the weights from the seed's initial ones: ||w - w0|| / ||w0||.
    layer_drift: dict[str, float] = field(default_factory=dict)
    # What the run was: its config group choices, its command-line overrides, and the resolved config (flat
    # dotted keys). Reports group runs by the keys that differ between them (optlab.config.run_identity).
    choices: dict[str, str | None] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    # Provenance: library versions, the device, the code's git commit (None outside a git checkout).
    versions: dict[str, str] = field(default_factory=dict)
    # What decides its numbers (optlab.config.run_identity.numbers_identity): config hash, versions, device kind.
    identity: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    git_commit: str | None = None

    @property
    def epochs_trained(self) -> float:
        """Epochs of training done, fractions included (a search trial pruned a third of an epoch in: 0.33); the
        whole epochs of a summary written before steps were recorded."""
        return self.steps / self.steps_per_epoch if self.steps_per_epoch else float(self.epochs)

    @property
    def objective(self) -> float:
        """What a search maximises: the final validation accuracy (never the test set's); 0.0, the worst value,
        for a run that diverged, failed or could not run, so that the search learns to avoid its setting."""
        return self.val_acc if self.status == Status.OK and math.isfinite(self.val_acc) else 0.0

    def write(self, folder: Path) -> Path:
        return write_atomic(folder / FILENAME, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> RunSummary | None:
        """The folder's summary, None if it has none; SummaryError if the file is there but unreadable."""
        path = folder / FILENAME
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            known = {f.name for f in fields(cls)}
            summary = cls(**{key: value for key, value in data.items() if key in known})
            summary.status = Status(summary.status)
            return summary
        except (ValueError, TypeError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
            raise SummaryError(f"{path} is unreadable ({first_line(error)})") from error
