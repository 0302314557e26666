"""optlab's epoch, timed inside its runs, against the reference loops (issue 6 on the CPU, issue 15 on a GPU): the
CIFAR-10 course CNN at each batch size with augmentation and the validation share, Fashion-MNIST's mnist_net, and
torch.compile against the eager step."""

from __future__ import annotations

import argparse
import statistics

from benchmarks.common import Setting, composed_setting, data_overrides, in_turns, steady, timed_run
from benchmarks.speed.loops import bare_loop_epochs, minimal_lightning_epochs, pil_loop_epoch
from benchmarks.speed.options import cifar_step, optlab_device
from benchmarks.speed.targets import Targets

# Targets per device, by batch size: optlab's epoch / the bare loop's (issue 6 on the CPU, issue 15 on a GPU).
LOOP_TARGETS = {"cpu": {128: 1.10, 32: 1.25}, "cuda": {32: 1.20, 128: 1.15, 512: 1.25}}


def optlab_epoch(overrides: list[str], epochs: int) -> float:
    """optlab's steady epoch seconds, as its EpochTimer took them inside the run."""
    return steady(timed_run(overrides, epochs).epoch_times)


def bench_cifar(args: argparse.Namespace, targets: Targets) -> None:
    print(f"CIFAR-10, course CNN, SGD momentum, 45k train + 5k val, device {args.device}, "
          f"{args.repeats} rounds, median of epochs 2-{args.epochs}", flush=True)
    setting = composed_setting(cifar_step(args))
    rows = [loops_at_batch(args, setting, batch, targets) for batch in args.batch_sizes]
    print("\n  | batch | bare loop | minimal LightningModule | optlab | optlab / bare | minimal / bare |\n"
          "  |---|---|---|---|---|---|", flush=True)
    for row in rows:
        print(row)
    augmentation(args, targets)


def loops_at_batch(args: argparse.Namespace, setting: Setting, batch: int, targets: Targets) -> str:
    """optlab and the minimal LightningModule each in turns with the bare loop, and on the CPU the torchvision+PIL
    loop once; the table's row."""

    def bare() -> float:
        return steady(bare_loop_epochs(setting, batch, args.device, args.epochs))

    def minimal() -> float:
        return steady(minimal_lightning_epochs(setting, batch, args.device, args.epochs))

    def optlab() -> float:
        return optlab_epoch([*cifar_step(args), f"data.batch_size={batch}", "data.augment=false"], args.epochs)

    ours = in_turns(args.repeats, {"optlab": optlab, "bare loop": bare})
    floor = in_turns(args.repeats, {"minimal LightningModule": minimal, "bare loop": bare})
    ratio, floor_ratio = ours.ratio("optlab", "bare loop"), floor.ratio("minimal LightningModule", "bare loop")
    targets.check(f"optlab / bare loop, batch {batch}", ratio, LOOP_TARGETS[args.device].get(batch, 1.25))
    if args.device == "cpu":
        pil = pil_loop_epoch(setting, batch)
        print(f"  batch {batch}: torchvision+PIL DataLoader loop {pil:.2f} s/epoch (the bare loop is "
              f"{pil / ours.median('bare loop'):.2f}x faster than it)", flush=True)
        targets.check(f"PIL loop / optlab, batch {batch}", pil / ours.median("optlab"), 3.5, higher_is_better=True)
    seconds = (ours.median("bare loop"), floor.median("minimal LightningModule"), ours.median("optlab"))
    return f"  | {batch} | " + " | ".join(f"{s:.3f} s" for s in seconds) + f" | {ratio:.2f}x | {floor_ratio:.2f}x |"


def augmentation(args: argparse.Namespace, targets: Targets) -> None:
    """Augmentation on against off at the first batch size, in turns, and the share of an epoch that validation
    takes in the runs without it."""
    batch = args.batch_sizes[0]
    val_shares: list[float] = []

    def epoch(augment: bool) -> float:
        run = timed_run([*cifar_step(args), f"data.batch_size={batch}", f"data.augment={str(augment).lower()}"],
                        args.epochs)
        if not augment:
            val_shares.append(run.summary["val_time_s"] / run.summary["epoch_time_s"])
        return steady(run.epoch_times)

    rounds = in_turns(args.repeats, {"augmentation on": lambda: epoch(True), "off": lambda: epoch(False)})
    share = statistics.median(val_shares)
    print(f"  batch {batch}: augmentation on {rounds.median('augmentation on'):.2f} s/epoch, off "
          f"{rounds.median('off'):.2f} s/epoch (medians); validation {share:.1%} of an epoch (timed inside the runs)",
          flush=True)
    targets.check("augmentation on / off", rounds.ratio("augmentation on", "off"), 1.10)
    targets.check("validation share of an epoch", share, 0.10)


def bench_fashion(args: argparse.Namespace, targets: Targets) -> None:
    print(f"Fashion-MNIST, mnist_net, SGD momentum, {args.fashion_train_size} train + 5k val", flush=True)
    batch = 128
    overrides = [*data_overrides("fashion_mnist", args.fashion_root, "true"),
                 f"data.train_size={args.fashion_train_size}", "model=mnist_net", "optimizer=momentum",
                 f"data.batch_size={batch}", f"device={optlab_device(args)}"]
    setting = composed_setting(overrides)
    rounds = in_turns(args.repeats, {
        "optlab": lambda: optlab_epoch(overrides, args.epochs),
        "bare loop": lambda: steady(bare_loop_epochs(setting, batch, args.device, args.epochs)),
    })
    print(f"  batch {batch}: bare loop {rounds.median('bare loop'):.2f} s/epoch, optlab {rounds.median('optlab'):.2f} "
          "s/epoch (medians)", flush=True)
    targets.check("Fashion-MNIST optlab / bare loop", rounds.ratio("optlab", "bare loop"), 1.05)


def bench_compile(args: argparse.Namespace, targets: Targets) -> None:
    """compile.enabled=true (each torch.compile mode given) against the eager step, CIFAR-10 at the first batch size.
    No target: the figures decide whether compile should be on by default on this kind of machine."""
    batch = args.batch_sizes[0]
    print(f"compile, CIFAR-10 course CNN, batch {batch}, device {args.device}, median of epochs 2-{args.epochs}",
          flush=True)
    for mode in args.compile_modes:
        compile_against_eager(args, [*cifar_step(args), f"data.batch_size={batch}"], mode)


def compile_against_eager(args: argparse.Namespace, eager: list[str], mode: str) -> None:
    compiled = f"compiled ({mode})"
    rounds = in_turns(args.repeats, {
        compiled: lambda: optlab_epoch([*eager, "compile.enabled=true", f"compile.mode={mode}"], args.epochs),
        "eager": lambda: optlab_epoch(eager, args.epochs),
    })
    ratio = rounds.ratio(compiled, "eager")
    print(f"  compile mode {mode}: {rounds.median(compiled):.3f} s/epoch, eager {rounds.median('eager'):.3f} s/epoch: "
          f"compiled / eager {ratio:.2f} ({'faster' if ratio < 1 else 'slower'} compiled; median of rounds)",
          flush=True)
