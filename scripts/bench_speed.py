#!/usr/bin/env python
"""Speed benchmark: optlab against an independent bare PyTorch loop and the course's torchvision+PIL loop,
measured side by side in one run. Prints a table and the ratios of issue 6, exits 1 when a target is missed.

    python scripts/bench_speed.py --root data --verify false              # CIFAR-10 (JPEG copy: --verify false)
    python scripts/bench_speed.py --only cifar --batch-sizes 128          # one part only

Epoch times are marginal: (time of a 3-epoch run - time of a 1-epoch run) / 2, so start-up (imports, data
loading, the test pass) cancels out. Every loop validates once per epoch, as optlab does by default.
With --repeats N the loops take turns N times and each ratio is the median of the N rounds' ratios, so that a
slow spell of the machine (seen here: the same loop 30% slower for tens of seconds) falls on both sides of it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from optlab.models import CifarNet, MnistNet  # noqa: E402
from optlab.sources import CIFAR10Source, IDXSource  # noqa: E402

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
results: list[tuple[str, float, float, bool]] = []  # (what, measured, target, met)


def check(what: str, measured: float, target: float, higher_is_better: bool = False) -> None:
    met = measured >= target if higher_is_better else measured <= target
    results.append((what, measured, target, met))
    sign = ">=" if higher_is_better else "<="
    print(f"  {'ok  ' if met else 'MISS'} {what}: {measured:.3f} (target {sign} {target})", flush=True)


# ---- the independent bare loop: preloaded uint8 tensors, normalised per batch ------------------------------------


def split(images: torch.Tensor, labels: torch.Tensor, val_size: int, train_size: int | None):
    """The same split optlab makes (fixed seed 42): so both loops see the same images."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(42))
    val, train = order[:val_size], order[val_size:]
    if train_size:
        train = train[:train_size]
    return (images[train], labels[train]), (images[val], labels[val])


def bare_loop_time(model_fn: Callable[[], torch.nn.Module], train, val, mean, std, batch: int, device: str,
                   epochs: int) -> float:
    torch.manual_seed(1)
    model = model_fn().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    mean_t = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, -1, 1, 1)
    (x_train, y_train), (x_val, y_val) = [(x.to(device), y.to(device)) for x, y in (train, val)]

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255 - mean_t) / std_t

    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y_train), device=device).split(batch):
            loss = F.cross_entropy(model(normalise(x_train[idx])), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for start_i in range(0, len(y_val), 1024):
                F.cross_entropy(model(normalise(x_val[start_i:start_i + 1024])), y_val[start_i:start_i + 1024])
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def marginal(loop_time: Callable[..., float], *args) -> float:
    """Seconds per epoch without start-up: (3-epoch time - 1-epoch time) / 2."""
    return (loop_time(*args, epochs=3) - loop_time(*args, epochs=1)) / 2


# ---- Lightning's own floor: a minimal LightningModule on the same preloaded batches -----------------------------


class ShuffledBatches:
    """The bare loop's batches as an iterable Lightning can train on: a new permutation every epoch."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch: int, shuffle: bool) -> None:
        self.images, self.labels, self.batch, self.shuffle = images, labels, batch, shuffle

    def __iter__(self):
        order = torch.randperm(len(self.labels)) if self.shuffle else torch.arange(len(self.labels))
        for idx in order.split(self.batch):
            yield self.images[idx], self.labels[idx]

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch)


class MinimalModule(pl.LightningModule):
    """No logging, no callbacks, no progress bar: what Lightning's loop itself costs per step."""

    def __init__(self, model: torch.nn.Module, mean, std) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def _loss(self, batch) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(self.model((images.float() / 255 - self.mean) / self.std), labels)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._loss(batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)


def minimal_lightning_time(model_fn: Callable[[], torch.nn.Module], train, val, mean, std, batch: int, device: str,
                           epochs: int) -> float:
    torch.manual_seed(1)
    train, val = [(x.to(device), y.to(device)) for x, y in (train, val)]  # resident, as in the bare loop
    module = MinimalModule(model_fn(), mean, std)
    for name in ("lightning.pytorch", "lightning.fabric"):  # no "GPU available" lines in the benchmark's table
        logging.getLogger(name).setLevel(logging.WARNING)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="gpu" if device == "cuda" else "cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    start = time.perf_counter()
    with warnings.catch_warnings():  # Lightning's advice on workers and deprecations
        warnings.simplefilter("ignore")
        trainer.fit(module, ShuffledBatches(*train, batch, shuffle=True), ShuffledBatches(*val, 1024, shuffle=False))
    return time.perf_counter() - start


# ---- the course students' loop: torchvision dataset + PIL transforms + DataLoader -----------------------------------


def pil_loop_epoch(root: str, verify: bool, batch: int, val_size: int) -> float:
    """One epoch of the torchvision+PIL loop (its per-epoch cost is decoding, which start-up does not change)."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader, Subset
    from torchvision.datasets import CIFAR10

    from optlab.sources import _UncheckedCIFAR10

    dataset_class = CIFAR10 if verify else _UncheckedCIFAR10
    transform = T.Compose([T.ToTensor(), T.Normalize(CIFAR_MEAN, CIFAR_STD)])
    dataset = dataset_class(root, train=True, transform=transform)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(42))
    train, val = Subset(dataset, order[val_size:].tolist()), Subset(dataset, order[:val_size].tolist())
    torch.manual_seed(1)
    model = CifarNet((3, 32, 32), 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    model.train()
    for images, labels in DataLoader(train, batch_size=batch, shuffle=True):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for images, labels in DataLoader(val, batch_size=1024):
            F.cross_entropy(model(images), labels)
    return time.perf_counter() - start


# ---- optlab, as a user runs it ------------------------------------------------------------------------------------


class Run(NamedTuple):
    seconds: float
    folder: Path


def python_path() -> str:
    """This checkout's src and scripts first, then whatever the caller had on PYTHONPATH (kept, not replaced)."""
    return os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT / "scripts"), os.environ.get("PYTHONPATH")) if p)


def optlab_run(overrides: list[str]) -> Run:
    """Wall time and run folder of `python -m optlab.train OVERRIDES`."""
    run_dir = Path(tempfile.mkdtemp(prefix="optlab-bench-"))
    command = [sys.executable, "-m", "optlab.train", *overrides, f"hydra.run.dir={run_dir}"]
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": python_path()})
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench: optlab failed ({' '.join(overrides)}):\n{result.stderr[-3000:]}")
    return Run(elapsed, run_dir)


def optlab_marginal(overrides: list[str]) -> tuple[float, float]:
    """Marginal epoch seconds, and the share of an epoch that validation took (timed inside the 3-epoch run)."""
    one = optlab_run([*overrides, "trainer.max_epochs=1"])
    three = optlab_run([*overrides, "trainer.max_epochs=3"])
    summary = json.loads((three.folder / "summary.json").read_text())
    return (three.seconds - one.seconds) / 2, summary["val_time_s"] / summary["epoch_time_s"]


def paired(
    repeats: int, what: str, slower: Callable[[], float], faster: Callable[[], float]
) -> tuple[float, float, float]:
    """Medians of two measures taken in turns, and the median of their per-round ratio slower / faster."""
    rounds = [(slower(), faster()) for _ in range(repeats)]
    print(f"    {what}, s/epoch per round: " + ", ".join(f"{a:.2f} vs {b:.2f}" for a, b in rounds), flush=True)
    return (statistics.median(a for a, _ in rounds), statistics.median(b for _, b in rounds),
            statistics.median(a / b for a, b in rounds))


def cifar_data(args: argparse.Namespace) -> list[str]:
    """The overrides that point optlab at the benchmark's CIFAR-10 copy."""
    return ["data=cifar10", f"data.root={args.root}", f"data.verify={str(args.verify).lower()}"]


# ---- the parts -------------------------------------------------------------------------------------------------------


def bench_cifar(args: argparse.Namespace) -> None:
    print(f"CIFAR-10, course CNN, SGD momentum, 45k train + 5k val, device {args.device}, "
          f"{args.repeats} rounds", flush=True)
    splits = CIFAR10Source(args.root, download=False, verify=args.verify).load()
    train, val = split(splits.train_images, splits.train_labels, 5000, None)
    data = [*cifar_data(args), "optimizer=momentum", "model=cifar_net",
            f"device={'gpu' if args.device == 'cuda' else 'cpu'}"]
    ratios = {128: 1.10, 32: 1.25}

    def loop_args(batch: int) -> tuple:
        return (lambda: CifarNet((3, 32, 32), 10)), train, val, CIFAR_MEAN, CIFAR_STD, batch, args.device

    val_shares: list[float] = []  # validation share of each run without augmentation, since the last clear()

    def ours(batch: int, augment: bool) -> float:
        overrides = [*data, f"data.batch_size={batch}", f"data.augment={str(augment).lower()}"]
        seconds, val_share = optlab_marginal(overrides)
        if not augment:
            val_shares.append(val_share)
        return seconds

    for batch in args.batch_sizes:
        plain, bare, ratio = paired(
            args.repeats, "optlab vs bare loop",
            lambda batch=batch: ours(batch, augment=False),
            lambda batch=batch: marginal(bare_loop_time, *loop_args(batch)),
        )
        print(f"  batch {batch}: bare loop {bare:.2f} s/epoch, optlab {plain:.2f} s/epoch (medians)", flush=True)
        check(f"optlab / bare loop, batch {batch}", ratio, ratios.get(batch, 1.25))
        *_, floor = paired(args.repeats, "minimal LightningModule vs bare loop",
                           lambda batch=batch: marginal(minimal_lightning_time, *loop_args(batch)),
                           lambda batch=batch: marginal(bare_loop_time, *loop_args(batch)))
        print(f"  batch {batch}: Lightning's own floor, a minimal LightningModule / bare loop: {floor:.3f}", flush=True)
        if args.device == "cpu":
            pil = pil_loop_epoch(args.root, args.verify, batch, 5000)
            print(f"  batch {batch}: torchvision+PIL DataLoader loop {pil:.2f} s/epoch "
                  f"(the bare loop is {pil / bare:.2f}x faster than it)", flush=True)
            check(f"PIL loop / optlab, batch {batch}", pil / plain, 3.5, higher_is_better=True)
    batch = args.batch_sizes[0]
    val_shares.clear()
    augmented, plain, ratio = paired(args.repeats, "augmentation on vs off", lambda: ours(batch, True),
                                     lambda: ours(batch, False))
    share = statistics.median(val_shares)
    print(f"  batch {batch}: augmentation on {augmented:.2f} s/epoch, off {plain:.2f} s/epoch (medians); "
          f"validation {share:.1%} of an epoch (timed inside the runs)", flush=True)
    check("augmentation on / off", ratio, 1.10)
    check("validation share of an epoch", share, 0.10)


def bench_fashion(args: argparse.Namespace) -> None:
    print(f"Fashion-MNIST, mnist_net, SGD momentum, {args.fashion_train_size} train + 5k val", flush=True)
    splits = IDXSource("fashion_mnist", args.fashion_root, download=False, verify=True).load()
    train, val = split(splits.train_images, splits.train_labels, 5000, args.fashion_train_size)
    batch = 128
    overrides = ["data=fashion_mnist", f"data.root={args.fashion_root}", f"data.train_size={args.fashion_train_size}",
                 "model=mnist_net", "optimizer=momentum", f"data.batch_size={batch}"]
    ours, bare, ratio = paired(
        args.repeats, "optlab vs bare loop",
        lambda: optlab_marginal(overrides)[0],
        lambda: marginal(bare_loop_time, lambda: MnistNet((1, 28, 28), 10, 0.25), train, val, FASHION_MEAN,
                         FASHION_STD, batch, args.device),
    )
    print(f"  batch {batch}: bare loop {bare:.2f} s/epoch, optlab {ours:.2f} s/epoch (medians)", flush=True)
    check("Fashion-MNIST optlab / bare loop", ratio, 1.05)


def import_seconds(module: str) -> float:
    """Seconds for a fresh interpreter to import `module`: the floor under any tool built on it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - start


def first_step_launch(args: argparse.Namespace) -> tuple[float, float]:
    """Seconds from launch to the first training step of a 1-epoch CIFAR-10 run, and that run's peak RSS in GB."""
    stamps = Path(tempfile.mkdtemp())
    launched = time.time()
    optlab_run([*cifar_data(args), "trainer.max_epochs=1",
                "+callbacks.first_step._target_=bench_callbacks.FirstStepStamp",
                f"+callbacks.first_step.path={stamps / 'first_step'}",
                "+callbacks.peak_memory._target_=bench_callbacks.PeakMemoryAtExit",
                f"+callbacks.peak_memory.path={stamps / 'peak_bytes'}"])
    return float((stamps / "first_step").read_text()) - launched, int((stamps / "peak_bytes").read_text()) / 2**30


def bench_startup(args: argparse.Namespace) -> None:
    """First training step after launch (data already on disk) and the peak memory of one full CIFAR-10 run;
    launches and bare imports take turns, and the medians are checked."""
    print(f"Start-up and memory, CIFAR-10, one epoch, {args.repeats} rounds", flush=True)
    rounds = [(*first_step_launch(args), import_seconds("lightning.pytorch")) for _ in range(args.repeats)]
    print("    first step / `import lightning.pytorch` alone, s per round: "
          + ", ".join(f"{step:.2f} / {floor:.2f}" for step, _, floor in rounds), flush=True)
    first_step, peak_gb, floor = (statistics.median(column) for column in zip(*rounds, strict=True))
    print(f"  first training step {first_step:.2f} s after launch, of which `import lightning.pytorch` alone takes "
          f"{floor:.2f} s here (torch, torchvision, torchmetrics); peak RSS of a run {peak_gb:.2f} GB (medians)",
          flush=True)
    check("seconds to the first training step", first_step, 5.0)
    check("peak memory of one CIFAR-10 run (GB)", peak_gb, 1.5)


def bench_sweep(args: argparse.Namespace) -> None:
    """An 8-run sweep per batch size: one job at a time (torch's default threads) against 2 parallel jobs of 1 thread.

    Same results: the launcher must not change a run's numbers, so joblib's runs are compared with the basic
    launcher's at the same thread count (1); the default-thread runs differ in float summation order.
    """
    for batch in args.batch_sizes:
        sweep_at_batch(args, batch)


def sweep_at_batch(args: argparse.Namespace, batch: int) -> None:
    print(f"Sweep of 8 runs, batch {batch}: basic launcher vs joblib (2 jobs x 1 thread)", flush=True)
    sweep = ["-m", "optimizer=sgd,momentum,nesterov,adam,adamw,rmsprop,adagrad,lion", *cifar_data(args),
             "data.train_size=10000",
             f"data.batch_size={batch}", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
             "report.enabled=false"]
    variants = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "torch_threads=1"],
                "basic, 1 thread": ["torch_threads=1"]}
    timings, metrics = {}, {}
    for name, extra in variants.items():
        folder = Path(tempfile.mkdtemp(prefix="optlab-sweep-"))
        timings[name] = optlab_run([*sweep, *extra, f"hydra.sweep.dir={folder}"]).seconds
        metrics[name] = {p.parent.name: json.loads(p.read_text())["val_loss"] for p in folder.glob("*/summary.json")}

    def largest_difference(a: str, b: str) -> float:
        return max(abs(metrics[a][run] - metrics[b][run]) for run in metrics[a])

    print(f"  basic {timings['basic']:.1f} s, joblib {timings['joblib']:.1f} s, basic with 1 thread "
          f"{timings['basic, 1 thread']:.1f} s; largest val_loss difference joblib vs basic at 1 thread "
          f"{largest_difference('joblib', 'basic, 1 thread'):.2e}, 1 vs {torch.get_num_threads()} threads "
          f"{largest_difference('joblib', 'basic'):.2e}", flush=True)
    check(f"sweep speed-up, joblib over basic, batch {batch}", timings["basic"] / timings["joblib"], 1.4,
          higher_is_better=True)
    check(f"same results, joblib vs basic, batch {batch}: largest |val_loss difference|",
          largest_difference("joblib", "basic, 1 thread"), 1e-6)


PARTS = {"cifar": bench_cifar, "fashion": bench_fashion, "startup": bench_startup, "sweep": bench_sweep}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data", help="data.root of CIFAR-10 (cifar-10-batches-py/)")
    parser.add_argument("--verify", default="true", choices=("true", "false"), help="data.verify for CIFAR-10")
    parser.add_argument("--fashion-root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--fashion-train-size", type=int, default=20000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 32])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3, help="rounds per ratio (their median is checked)")
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), default=list(PARTS))
    args = parser.parse_args()
    args.verify = args.verify == "true"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores", flush=True)
    for part in args.only:
        PARTS[part](args)
    missed = [what for what, _, _, met in results if not met]
    missed_list = f"; missed: {', '.join(missed)}" if missed else ""
    print(f"\n{len(results) - len(missed)} of {len(results)} targets met{missed_list}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
