"""The speed harness's command line: its options, their defaults on each device, and the optlab overrides they stand
for."""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import add_data_options, data_overrides

# Per device: batch sizes, parallel jobs x threads, and epochs of the sweep part (issue 6 on CPU, 15 on GPU).
# On a GPU the sweep runs at batch 128 only: issue 15's throughput target is one figure, and a lent GPU's window is
# short (the three batch sizes' sweeps alone would take most of it).
DEVICE_DEFAULTS = {"cpu": {"batch_sizes": (128, 32), "jobs": 2, "threads_per_job": 1, "sweep_epochs": 2},
                   "cuda": {"batch_sizes": (32, 128, 512), "sweep_batch_sizes": (128,), "jobs": 8, "threads_per_job": 2,
                            "sweep_epochs": 10}}


def parse(description: str, parts: list[str]) -> argparse.Namespace:
    """The options given, with the device's defaults filled in where an option was left out."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser)
    parser.add_argument("--fashion-root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--fashion-train-size", type=int, default=20000)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="default: 128 32 on cpu, 32 128 512 on cuda")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed run; the first is left out")
    parser.add_argument("--jobs", type=int, help="parallel jobs of the sweep and zoo parts (default 2 cpu, 8 cuda)")
    parser.add_argument("--threads-per-job", type=int, help="torch threads of each parallel job (1 cpu, 2 cuda)")
    parser.add_argument("--sweep-epochs", type=int, help="epochs of each sweep run (2 cpu, 10 cuda)")
    parser.add_argument("--sweep-batch-sizes", type=int, nargs="+", help="batch sizes of the sweep part "
                        "(default: --batch-sizes on cpu, 128 on cuda)")
    parser.add_argument("--sweep-train-size", type=int, default=10000, help="training images of each sweep run")
    parser.add_argument("--compile-modes", nargs="+", default=["default", "reduce-overhead"])
    parser.add_argument("--repeats", type=int, default=3, help="rounds per ratio (their median is checked)")
    parser.add_argument("--only", nargs="+", choices=parts, help="parts to run (default: the device's)")
    parser.add_argument("--against", metavar="REF", help="only: this working tree against the commit REF, in turns")
    parser.add_argument("--against-tolerance", type=float, default=1.05,
                        help="largest working tree / REF epoch ratio that counts as not slower")
    args = parser.parse_args()
    for key, value in DEVICE_DEFAULTS[args.device].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.sweep_batch_sizes is None:
        args.sweep_batch_sizes = args.batch_sizes
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is left out")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA GPU")
    return args


def optlab_device(args: argparse.Namespace) -> str:
    """optlab's device option for the harness's --device."""
    return "gpu" if args.device == "cuda" else "cpu"


def cifar_data(args: argparse.Namespace) -> list[str]:
    """The overrides that point optlab at the harness's CIFAR-10 copy."""
    return data_overrides("cifar10", args.root, args.verify)


def cifar_step(args: argparse.Namespace) -> list[str]:
    """The training step the epoch comparisons time: the course CNN on CIFAR-10, SGD with momentum, on --device."""
    return [*cifar_data(args), "model=cifar_net", "optimizer=momentum", f"device={optlab_device(args)}"]
