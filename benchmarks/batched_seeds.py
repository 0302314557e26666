#!/usr/bin/env python
"""Is training k seeds of one setting as one batched model worth building? (issue 27, item 4)

A tuning protocol's reruns (5 seeds of one setting) cannot be pruned. Here the same plain PyTorch training loop
(SGD with momentum, batch 128, each seed its own initial weights and data order) runs two ways on this machine:
- separately: k runs, two at a time (two processes, one torch thread each), as `jobs=2` runs them today;
- batched: one process with every core, the k models stacked (torch.func.stack_module_state) and their forward and
  backward vmapped over the seed dimension, each seed fed its own batch.
It prints the wall time of each and their ratio. Both sides train on the same random images of the data set's shape
(the speed does not depend on the pixels), so nothing needs to be downloaded.

    python benchmarks/batched_seeds.py                      # cifar_net and mnist_net, k=5, 2 epochs of 10,000
    python benchmarks/batched_seeds.py --models cifar_net --seeds 4 --images 5000
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from optlab.models.cnns import CifarNet, MnistNet  # noqa: E402

SHAPES = {"cifar_net": (3, 32, 32), "mnist_net": (1, 28, 28)}
LR, MOMENTUM, BATCH = 0.01, 0.9, 128


def build(model: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    shape = SHAPES[model]
    return CifarNet(shape, 10) if model == "cifar_net" else MnistNet(shape, 10, dropout=0.25)


def data(model: str, images: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, *SHAPES[model]), dtype=torch.uint8, generator=generator)
    return x, torch.randint(0, 10, (images,), generator=generator)


def one_seed(model: str, seed: int, images: int, epochs: int) -> float:
    """A plain training loop of one seed; seconds per epoch after the first (median)."""
    net = build(model, seed)
    x, y = data(model, images)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(images, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for batch in order.split(BATCH):
            loss = F.cross_entropy(net(x[batch].float().div_(255)), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def batched_seeds(model: str, seeds: list[int], images: int, epochs: int) -> float:
    """The k seeds as one stacked model, vmapped; seconds per epoch (of all k seeds) after the first (median)."""
    nets = [build(model, seed) for seed in seeds]
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")
    x, y = data(model, images)

    def loss(p: dict, b: dict, images_: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(base, (p, b), (images_,)), labels)

    gradients = vmap(grad(loss), randomness="different")
    momentum = {name: torch.zeros_like(value) for name, value in params.items()}
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        orders = [torch.randperm(images, generator=torch.Generator().manual_seed(s * 1000 + epoch)) for s in seeds]
        for step in range(-(-images // BATCH)):
            index = torch.stack([o[step * BATCH:(step + 1) * BATCH] for o in orders])  # (k, batch)
            g = gradients(params, buffers, x[index].float().div_(255), y[index])
            with torch.no_grad():
                for name, value in params.items():  # torch.optim.SGD's momentum update, on the stacked tensors
                    momentum[name].mul_(MOMENTUM).add_(g[name])
                    value.sub_(momentum[name], alpha=LR)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def separately(model: str, seeds: list[int], images: int, epochs: int) -> float:
    """k runs, two at a time, each its own process with one torch thread; wall seconds of one epoch of every seed
    (each run's steady epoch, summed over the runs a worker ran, the slower worker counting)."""
    command = [sys.executable, __file__, "--one-seed", model, "--images", str(images), "--epochs", str(epochs)]

    def run(seed: int) -> float:
        result = subprocess.run([*command, "--seed", str(seed)], capture_output=True, text=True, check=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        return float(result.stdout.strip())

    with ThreadPoolExecutor(max_workers=2) as pool:
        per_seed = list(pool.map(run, seeds))
    # Two workers take the seeds in turn: worker i runs seeds i, i+2, ...
    return max(sum(per_seed[i::2]) for i in range(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["cifar_net", "mnist_net"], choices=sorted(SHAPES))
    parser.add_argument("--seeds", type=int, default=5, help="k: seeds of the one setting")
    parser.add_argument("--images", type=int, default=10000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the first is left out")
    parser.add_argument("--repeats", type=int, default=2, help="rounds, each timing both ways in turn")
    parser.add_argument("--one-seed", choices=sorted(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_seed:
        torch.set_num_threads(1)
        print(one_seed(args.one_seed, args.seed, args.images, args.epochs))
        return
    seeds = list(range(1, args.seeds + 1))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; k={args.seeds} seeds, batch {BATCH}, "
          f"{args.images} images per epoch, median of epochs 2-{args.epochs}, {args.repeats} rounds", flush=True)
    print("\n| model | k runs, 2 at a time (s per epoch of all k) | batched, one process | separate / batched |\n"
          "|---|---|---|---|")
    for model in args.models:
        rounds = [(separately(model, seeds, args.images, args.epochs),
                   batched_seeds(model, seeds, args.images, args.epochs)) for _ in range(args.repeats)]
        ratios = [a / b for a, b in rounds]
        print(f"| {model} | {statistics.median(a for a, _ in rounds):.2f} s | "
              f"{statistics.median(b for _, b in rounds):.2f} s | {statistics.median(ratios):.2f}x "
              f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}) |", flush=True)


if __name__ == "__main__":
    main()
