#!/usr/bin/env python
"""What logging optimizer dynamics costs (optlab.run.dynamics, `callbacks.dynamics`): the same optlab run with the
callback at its default interval, at every step (the worst case), and removed, taking turns, side by side.

    python benchmarks/dynamics.py --root data --verify false              # CIFAR-10 course CNN, batch 128
    python benchmarks/dynamics.py --data fashion_mnist --root /usr/share/datasets/fashion-mnist --model mnist_net

Each run's epoch time is its own `epoch_time_s` (summary.json: the mean over its epochs, measured inside the run,
so start-up does not count). Each round runs the three settings in turn; a ratio is the median over rounds of
(time with the callback) / (time without), so a slow spell of the machine falls on both sides of it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "without": ["~callbacks.dynamics"],
    "every 50 steps (default)": [],
    "every step": ["callbacks.dynamics.every_n_steps=1"],
}


def epoch_time(overrides: list[str], folder: Path) -> float:
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH")]  # the caller's path kept, after this checkout's
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    subprocess.run([sys.executable, "-m", "optlab.train", *overrides, f"hydra.run.dir={folder}"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    return json.loads((folder / "summary.json").read_text())["epoch_time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--model", default="cifar_net")
    parser.add_argument("--root", default="data")
    parser.add_argument("--verify", default="true", choices=("true", "false"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = [f"data={args.data}", f"model={args.model}", f"data.root={args.root}", f"trainer.max_epochs={args.epochs}",
            f"data.batch_size={args.batch_size}", "trainer.enable_progress_bar=false", "test=false",
            "optimizer=momentum"]
    if args.data == "cifar10":
        base.append(f"data.verify={args.verify}")
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.repeats):
            for name, extra in SETTINGS.items():
                folder = Path(scratch) / f"{round_}_{name[:5]}"
                times[name].append(epoch_time([*base, *extra], folder))
            print(f"round {round_ + 1}: " + ", ".join(f"{n}: {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    print(f"\n{args.data}, {args.model}, batch {args.batch_size}, {args.epochs} epochs, {args.repeats} rounds; "
          "epoch time (median) and its ratio to the run without the callback (median of per-round ratios):")
    for name, values in times.items():
        ratios = [v / w for v, w in zip(values, times["without"], strict=True)]
        print(f"  {name:26s} {statistics.median(values):7.2f} s   {statistics.median(ratios):.3f}x "
              f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
