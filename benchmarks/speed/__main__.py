"""Speed benchmark: optlab against an independent bare PyTorch loop, a minimal LightningModule and the course's
torchvision+PIL loop, measured side by side in one run. Prints a table and the ratios of the speed issues, exits 1
when a target is missed. From the repository root:

    python -m benchmarks.speed --root data --verify false                  # CIFAR-10 (JPEG copy: --verify false)
    python -m benchmarks.speed --only cifar --batch-sizes 128              # one part only
    python -m benchmarks.speed --device cuda --root data --verify false    # the GPU targets (issue 15)
    python -m benchmarks.speed --against HEAD --root data --verify false   # this working tree against a commit

--against REF times optlab as of REF and as this working tree is, the same runs in turns, each tree installed
(not editable) into a folder of its own, so that neither borrows the other's code or configs. Run it before
committing any change to the training step: a ratio above --against-tolerance fails the check.

Epoch times are taken inside the runs: each loop clocks its own epochs (after the device has finished them) and
the figure is the median of the epochs after the first (--epochs, default 4), so start-up, first-step compilation
and the test pass are left out. Every loop validates once per epoch, as optlab does by default.
With --repeats N the loops take turns N times and each ratio is the median of the N rounds' ratios, so that a
slow spell of the machine (seen here: the same loop 30% slower for tens of seconds) falls on both sides of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import lightning.pytorch as pl

from benchmarks.common import machine_line
from benchmarks.speed.against import bench_against
from benchmarks.speed.epochs import bench_cifar, bench_compile, bench_fashion
from benchmarks.speed.options import parse
from benchmarks.speed.startup import bench_startup
from benchmarks.speed.sweeps import bench_sweep, bench_zoo
from benchmarks.speed.targets import Targets

PARTS: dict[str, Callable[[argparse.Namespace, Targets], None]] = {
    "cifar": bench_cifar, "fashion": bench_fashion, "startup": bench_startup, "sweep": bench_sweep,
    "compile": bench_compile, "zoo": bench_zoo, "against": bench_against,
}
# What runs without --only: the zoo takes hours on a CPU; compile has no target there.
DEFAULT_PARTS = {"cpu": ["cifar", "fashion", "startup", "sweep"], "cuda": ["cifar", "compile", "sweep", "zoo"]}


def main() -> int:
    args = parse(__doc__, sorted(PARTS))
    print(f"{machine_line(args.device)}, lightning {pl.__version__}", flush=True)
    targets = Targets()
    for part in ["against"] if args.against else args.only or DEFAULT_PARTS[args.device]:
        PARTS[part](args, targets)
    return targets.verdict()


if __name__ == "__main__":
    sys.exit(main())
