"""`python -m optlab.landscape SWEEP [--out DIR] [--seed N] [--grid 21] [--span 1.0] [--subset 1024]`

For the finished runs of one seed under SWEEP (every optimizer started from the same initial weights): the loss
along one and on two filter-normalized random directions around each run's final weights, the same directions
for every run, and along the straight line from the initial to the final weights. Writes landscape_1d.png,
landscape_2d.png, interpolation.png, landscape.md and landscape.json into --out (default SWEEP/report/landscape).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from optlab.config.run_identity import override_pairs
from optlab.files import write_atomic
from optlab.landscape import surface
from optlab.landscape.figures import draw_interpolation, draw_line, draw_planes
from optlab.landscape.result import Landscape, render_table, write_results
from optlab.landscape.trained_run import NoCheckpoint, TrainedRun, fixed_batch, load_trained_run, run_config
from optlab.report.runs import Run, load_runs
from optlab.report.table import group_runs
from optlab.run.summary import Status

log = logging.getLogger("optlab.landscape")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m optlab.landscape", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="a sweep (or run) folder written by optlab.train")
    parser.add_argument("--out", type=Path, default=None, help="where figures go (default SWEEP/report/landscape)")
    parser.add_argument("--seed", type=int, default=None, help="which seed's runs (default: the lowest present)")
    parser.add_argument("--grid", type=int, default=21, help="points per axis (odd, so that 0 is on the grid)")
    parser.add_argument("--span", type=float, default=1.0, help="directions are drawn from -span to +span")
    parser.add_argument("--subset", type=int, default=1024, help="training images the loss is measured on")
    parser.add_argument("--direction-seed", type=int, default=0, help="seed of the random directions")
    args = parser.parse_args(argv)
    if args.grid < 3 or args.grid % 2 == 0:
        parser.error(f"--grid {args.grid} must be odd and at least 3, so that the final weights are a grid point")
    if args.span <= 0 or args.subset < 1:
        parser.error("--span must be positive and --subset at least 1")
    return args


def labels(runs: list[Run]) -> dict[Path, str]:
    """Each run's group label as the report writes it (optimizer, plus whatever else the sweep varied)."""
    return {run.folder: label for label, members in group_runs(runs, None).items() for run in members}


def settings_note(runs: list[Run]) -> str:
    """Whether the runs were tuned, from their command lines: untuned when none set an optimizer key (a tune
    protocol's and an lr sweep's runs set optimizer.lr=...), each optimizer then at its conf/optimizer defaults."""
    keys = sorted({key for run in runs for key in override_pairs(run.summary.overrides)
                   if key.startswith("optimizer.")})
    if not keys:
        return "untuned: each optimizer at its config defaults"
    return f"set on the command line: {', '.join(keys)}"


def landscape_title(runs: list[Run], seed: int, images: int) -> str:
    """"fashion_mnist, mnist_net, 5 epochs, seed 1, loss on 512 training images; untuned: ..." (one seed: the
    landscape is of that seed's runs only)."""
    def values(key: str) -> str:
        return ", ".join(str(v) for v in sorted({getattr(r.summary, key) for r in runs}))

    epochs = max(r.summary.epochs for r in runs)
    return (f"{values('data')}, {values('model')}, {epochs} epochs, seed {seed}, loss on {images} training images; "
            f"{settings_note(runs)}")


def measure(run: TrainedRun, directions: tuple[surface.Params, surface.Params], images: torch.Tensor,
            targets: torch.Tensor, alphas: list[float], ts: list[float]) -> tuple[list, list, list]:
    """(1-D line, 2-D plane, interpolation) of one run's loss, the directions filter-normalized to its weights."""
    loss = surface.batch_loss(run.model, images, targets, run.buffers)
    first, second = (surface.filter_normalized(d, run.final) for d in directions)
    return (surface.line(loss, run.final, first, alphas), surface.plane(loss, run.final, first, second, alphas),
            surface.interpolation(loss, run.initial, run.final, ts))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    runs = [r for r in load_runs([args.sweep]) if r.summary.status == Status.OK]
    if not runs:
        print(f"optlab.landscape: no finished run under {args.sweep}; train first (python -m optlab.train -m ...)",
              file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else min(r.summary.seed for r in runs)
    chosen = [r for r in runs if r.summary.seed == seed]
    if not chosen:
        print(f"optlab.landscape: no finished run of seed {seed}; seeds present: "
              f"{sorted({r.summary.seed for r in runs})}", file=sys.stderr)
        return 2
    names = labels(runs)
    alphas = np.linspace(-args.span, args.span, args.grid).tolist()
    ts = np.union1d(np.linspace(-0.5, 1.5, args.grid), [0.0, 1.0]).tolist()  # the two ends always on it
    data_cache: dict[str, tuple] = {}
    results, skipped = [], []
    for run in chosen:
        try:
            cfg = run_config(run.folder)
            images, targets, datamodule = fixed_batch(cfg, args.subset, data_cache)
            trained_run = load_trained_run(run.folder, cfg, datamodule)
        except NoCheckpoint as missing:
            log.warning("left out: %s", missing)
            skipped.append(str(missing))
            continue
        # One generator per run, seeded the same: every run gets the same raw directions.
        generator = torch.Generator().manual_seed(args.direction_seed)
        directions = (surface.random_direction(trained_run.final, generator),
                      surface.random_direction(trained_run.final, generator))
        line, plane, interpolation = measure(trained_run, directions, images, targets, alphas, ts)
        results.append(Landscape(names[run.folder], run.summary.optimizer, seed, str(run.folder), alphas, line, plane,
                                 ts, interpolation))
        log.info("%s: loss %.4f at the final weights", names[run.folder], line[len(line) // 2])
    if not results:
        print("optlab.landscape: no run has a checkpoint to draw:\n  " + "\n  ".join(skipped), file=sys.stderr)
        return 2
    out = args.out or args.sweep / "report" / "landscape"
    out.mkdir(parents=True, exist_ok=True)
    title = landscape_title(chosen, seed, min(args.subset, len(images)))
    write_results(results, out)
    for path in (draw_line(results, title, out / "landscape_1d.png"),
                 draw_planes(results, title, out / "landscape_2d.png"),
                 draw_interpolation(results, title, out / "interpolation.png"),
                 write_atomic(out / "landscape.md", render_table(results, title, skipped))):
        print(path)
    return 0


def run() -> None:
    """The `optlab-landscape` console script."""
    sys.exit(main())


if __name__ == "__main__":
    run()
