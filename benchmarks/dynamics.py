"""What logging optimizer dynamics costs (optlab.run.dynamics, `callbacks.dynamics`): the same optlab run with the
callback at its default interval, at every step (the worst case), and removed, taking turns, side by side.

    python -m benchmarks.dynamics --root data --verify false              # CIFAR-10 course CNN, batch 128
    python -m benchmarks.dynamics --data fashion_mnist --root /usr/share/datasets/fashion-mnist --model mnist_net

Each run's epoch time is its own `epoch_time_s` (summary.json: the mean over its epochs, measured inside the run,
so start-up does not count). Each round runs the three settings in turn; a ratio is the median over rounds of
(time with the callback) / (time without), so a slow spell of the machine falls on both sides of it.
"""

from __future__ import annotations

import argparse

from benchmarks.common import add_data_options, data_overrides, in_turns, timed_run

SETTINGS = {
    "without": ["~callbacks.dynamics"],
    "every 50 steps (default)": [],
    "every step": ["callbacks.dynamics.every_n_steps=1"],
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dynamics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--model", default="cifar_net")
    add_data_options(parser)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = [*data_overrides(args.data, args.root, args.verify), f"model={args.model}", "optimizer=momentum",
            f"data.batch_size={args.batch_size}", "test=false"]
    rounds = in_turns(args.repeats, {
        name: lambda extra=extra: timed_run([*base, *extra], args.epochs).summary["epoch_time_s"]
        for name, extra in SETTINGS.items()})
    print(f"\n{args.data}, {args.model}, batch {args.batch_size}, {args.epochs} epochs, {args.repeats} rounds; "
          "epoch time (median) and its ratio to the run without the callback (median of per-round ratios, rounds):")
    for name in SETTINGS:
        print(f"  {name:26s} {rounds.median(name):7.2f} s   {rounds.ratio_text(name, 'without')}")


if __name__ == "__main__":
    main()
