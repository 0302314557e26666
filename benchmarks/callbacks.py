"""Callbacks the speed benchmark adds to an optlab run through config: when the first training step started, and
how much memory the run itself used at its peak."""

import atexit
import time
from pathlib import Path

import lightning.pytorch as pl


class FirstStepStamp(pl.Callback):
    """Writes the wall-clock time at which the first training step starts."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == 0 and batch_idx == 0:
            self.path.write_text(repr(time.time()))


class PeakMemoryAtExit(pl.Callback):
    """Writes the process's peak resident memory in bytes (Linux's VmHWM) when the interpreter exits.

    Measured inside the run because the parent's view is wrong: the kernel carries the memory of the process that
    forked a child into that child's ru_maxrss, so wait4() reports the benchmark's own size whenever it is larger.
    VmHWM belongs to the address space that exec() created, i.e. to optlab alone.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        atexit.register(self.write)

    def write(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                self.path.write_text(str(int(line.split()[1]) * 1024))  # the kernel reports kB
