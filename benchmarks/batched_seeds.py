"""Is training k seeds of one setting as one batched model worth building? (issue 27, item 4)

A tuning protocol's reruns (5 seeds of one setting) cannot be pruned. Here the same plain PyTorch training loop
(SGD with momentum, batch 128, each seed its own initial weights and data order) runs two ways on this machine:
- separately: k runs, two at a time (two processes, one torch thread each), as `jobs=2` runs them today;
- batched: one process with every core, the k models stacked (torch.func.stack_module_state) and their forward and
  backward vmapped over the seed dimension, each seed fed its own batch.
It prints the wall time of each and their ratio. Both sides train on the same random images of the data set's shape
(the speed does not depend on the pixels), so nothing needs to be downloaded.

    python -m benchmarks.batched_seeds                      # cifar_net and mnist_net, k=5, 2 epochs of 10,000
    python -m benchmarks.batched_seeds --models cifar_net --seeds 4 --images 5000

The model and SGD's lr and momentum are optlab's (model=..., optimizer=momentum), from its composed config.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.func import functional_call, grad, stack_module_state, vmap

from benchmarks.common import ROOT, child_env, in_turns, machine_line, new_model, steady
from optlab.config.compose import compose_config

SHAPES = {"cifar_net": (3, 32, 32), "mnist_net": (1, 28, 28)}
BATCH = 128


def configured(model: str) -> DictConfig:
    """optlab's config of `model` trained by SGD with momentum: what both ways train."""
    return compose_config("train", [f"model={model}", "optimizer=momentum"])


def data(model: str, images: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, *SHAPES[model]), dtype=torch.uint8, generator=generator)
    return x, torch.randint(0, 10, (images,), generator=generator)


def epoch_order(images: int, seed: int, epoch: int) -> torch.Tensor:
    """Each seed's own data order, the same both ways."""
    return torch.randperm(images, generator=torch.Generator().manual_seed(seed * 1000 + epoch))


def one_seed(model: str, seed: int, images: int, epochs: int) -> float:
    """A plain training loop of one seed; its steady seconds per epoch."""
    config = configured(model)
    net = new_model(config, SHAPES[model], 10, seed)
    x, y = data(model, images)
    optimizer = instantiate(config.optimizer)(net.parameters())
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        for batch in epoch_order(images, seed, epoch).split(BATCH):
            loss = F.cross_entropy(net(x[batch].float().div_(255)), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return steady(times)


def batched_seeds(model: str, seeds: list[int], images: int, epochs: int) -> float:
    """The k seeds as one stacked model, vmapped; steady seconds per epoch (of all k seeds)."""
    config = configured(model)
    lr, momentum = config.optimizer.lr, config.optimizer.momentum
    nets = [new_model(config, SHAPES[model], 10, seed) for seed in seeds]
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")
    x, y = data(model, images)

    def loss(p: dict, b: dict, images_: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(base, (p, b), (images_,)), labels)

    gradients = vmap(grad(loss), randomness="different")
    velocity = {name: torch.zeros_like(value) for name, value in params.items()}
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        orders = [epoch_order(images, seed, epoch) for seed in seeds]
        for step in range(-(-images // BATCH)):
            index = torch.stack([o[step * BATCH:(step + 1) * BATCH] for o in orders])  # (k, batch)
            g = gradients(params, buffers, x[index].float().div_(255), y[index])
            with torch.no_grad():
                for name, value in params.items():  # torch.optim.SGD's momentum update, on the stacked tensors
                    velocity[name].mul_(momentum).add_(g[name])
                    value.sub_(velocity[name], alpha=lr)
        times.append(time.perf_counter() - start)
    return steady(times)


def separately(model: str, seeds: list[int], images: int, epochs: int) -> float:
    """k runs, two at a time, each its own process with one torch thread; wall seconds of one epoch of every seed
    (each run's steady epoch, summed over the runs a worker ran, the slower worker counting)."""
    command = [sys.executable, "-m", "benchmarks.batched_seeds", "--one-seed", model, "--images", str(images),
               "--epochs", str(epochs)]

    def run(seed: int) -> float:
        result = subprocess.run([*command, "--seed", str(seed)], capture_output=True, text=True, check=True,
                                cwd=ROOT, env={**child_env(), "OMP_NUM_THREADS": "1"})
        return float(result.stdout.strip())

    with ThreadPoolExecutor(max_workers=2) as pool:
        per_seed = list(pool.map(run, seeds))
    # Two workers take the seeds in turn: worker i runs seeds i, i+2, ...
    return max(sum(per_seed[i::2]) for i in range(2))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batched_seeds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["cifar_net", "mnist_net"], choices=sorted(SHAPES))
    parser.add_argument("--seeds", type=int, default=5, help="k: seeds of the one setting")
    parser.add_argument("--images", type=int, default=10000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the first is left out")
    parser.add_argument("--repeats", type=int, default=2, help="rounds, each timing both ways in turn")
    parser.add_argument("--one-seed", choices=sorted(SHAPES), help=argparse.SUPPRESS)  # a worker of `separately`
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is left out")
    if args.one_seed:
        torch.set_num_threads(1)
        print(one_seed(args.one_seed, args.seed, args.images, args.epochs))
        return
    seeds = list(range(1, args.seeds + 1))
    print(f"{machine_line('cpu')}; k={args.seeds} seeds, batch {BATCH}, {args.images} images per epoch, median of "
          f"epochs 2-{args.epochs}, {args.repeats} rounds", flush=True)
    rows = []
    for model in args.models:
        rounds = in_turns(args.repeats, {
            "separate": lambda model=model: separately(model, seeds, args.images, args.epochs),
            "batched": lambda model=model: batched_seeds(model, seeds, args.images, args.epochs),
        })
        rows.append(f"| {model} | {rounds.median('separate'):.2f} s | {rounds.median('batched'):.2f} s | "
                    f"{rounds.ratio_text('separate', 'batched')} |")
    print("\n| model | k runs, 2 at a time (s per epoch of all k) | batched, one process | separate / batched "
          "(rounds) |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
