"""Start-up and memory (issue 6): seconds from launch to the first training step, against the bare import of
Lightning under it, and the peak memory of one CIFAR-10 run."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import in_turns, optlab_train
from benchmarks.speed.options import cifar_data
from benchmarks.speed.targets import Targets


def import_seconds(module: str) -> float:
    """Seconds for a fresh interpreter to import `module`: the floor under any tool built on it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - start


def first_step_launch(args: argparse.Namespace) -> tuple[float, float]:
    """Seconds from launch to the first training step of a 1-epoch CIFAR-10 run, and that run's peak RSS in GB, both
    written by benchmarks.callbacks from inside the run."""
    with tempfile.TemporaryDirectory(prefix="optlab-stamps-") as scratch:
        stamps = Path(scratch)
        launched = time.time()
        optlab_train([*cifar_data(args), "trainer.max_epochs=1",
                      "+callbacks.first_step._target_=benchmarks.callbacks.FirstStepStamp",
                      f"+callbacks.first_step.path={stamps / 'first_step'}",
                      "+callbacks.peak_memory._target_=benchmarks.callbacks.PeakMemoryAtExit",
                      f"+callbacks.peak_memory.path={stamps / 'peak_bytes'}"])
        return (float((stamps / "first_step").read_text()) - launched,
                int((stamps / "peak_bytes").read_text()) / 2**30)


def bench_startup(args: argparse.Namespace, targets: Targets) -> None:
    """Launches and bare imports take turns; the medians are checked."""
    print(f"Start-up and memory, CIFAR-10, one epoch, {args.repeats} rounds", flush=True)
    peaks: list[float] = []

    def first_step() -> float:
        seconds, peak_gb = first_step_launch(args)
        peaks.append(peak_gb)
        return seconds

    rounds = in_turns(args.repeats, {"first training step": first_step,
                                     "import lightning.pytorch alone": lambda: import_seconds("lightning.pytorch")})
    first, floor, peak = (rounds.median("first training step"), rounds.median("import lightning.pytorch alone"),
                          statistics.median(peaks))
    print(f"  first training step {first:.2f} s after launch, of which `import lightning.pytorch` alone takes "
          f"{floor:.2f} s here (torch, torchvision, torchmetrics); peak RSS of a run {peak:.2f} GB (medians)",
          flush=True)
    targets.check("seconds to the first training step", first, 5.0)
    targets.check("peak memory of one CIFAR-10 run (GB)", peak, 1.5)
