"""The search stage of optlab.tune, three ways side by side on one machine (docs/benchmarks.md):

- `batch`: the protocol before Optuna 5 (commit 687474b: hydra-optuna-sweeper on Optuna 2.10, one optimizer after
  another, `jobs` trials at a time, each batch waiting for its slowest trial), run with --batch-python, the
  interpreter of an environment where that commit is installed;
- `none`: this code, `workers` asynchronous workers, no pruning;
- `asha1`: this code, `workers` asynchronous workers, pruner=asha with one rung per epoch (tune v2's default);
- `asha3`: the same with rungs_per_epoch=3 (tune v3's default): search trials validated three times an epoch, ASHA's
  first cut a third of an epoch in.

Each searches the same optimizers with the same budget on the same setting (default: the README's Fashion-MNIST
setting, mnist_net on 20,000 images, 5 epochs, 16 trials), then reruns the chosen lr once (selection, widening and
default reruns off, so the search is what is measured). Printed: epochs trained (fractions of a pruned trial's last
epoch included) and wall time of the search stage (asha3's two extra validations per epoch included: they are
counted in its wall time, not left out),
the ratios against `none` and `batch`, and each variant's chosen lr beside the unpruned search's good range (the
lrs whose trials came within 1 point of its best).

    python -m benchmarks.tune_search --batch-python /tmp/old/.venv/bin/python --out outputs/bench_tune
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from pathlib import Path

from benchmarks.common import ROOT, absolute_path, launch

SETTING = ["data=fashion_mnist", "model=mnist_net", "data.root=/usr/share/datasets/fashion-mnist",
           "data.train_size=20000", "trainer.max_epochs=5", "trainer.val_check_interval=1.0",
           "trainer.enable_progress_bar=false"]
OPTIMIZERS = "sgd,adam,muon,lion"
GOOD_WITHIN = 0.01


def tune_arguments(variant: str, optimizers: str, budget: int, workers: int, out: Path,
                   setting: list[str]) -> list[str]:
    """`python -m optlab.tune`'s arguments for `variant`: the search on its own, each variant's way."""
    common = [f"optimizer={optimizers}", f"budget={budget}", "seeds=1", "defaults_too=false", f"out={out / variant}",
              *setting]
    if variant == "batch":
        return [*common, f"jobs={workers}"]
    pruning = {"none": ["pruner=none"], "asha1": ["pruner=asha", "rungs_per_epoch=1"],
               "asha3": ["pruner=asha", "rungs_per_epoch=3"]}[variant]
    return [*common, f"workers={workers}", *pruning, "selection.seeds=0", "widen.rounds=0"]


def new_search(folder: Path, optimizers: list[str]) -> dict:
    """Epochs, wall time (first search trial's start to last one's end) and chosen lr, from the studies."""
    import optuna

    storage = f"sqlite:///{(folder / 'optuna.db').resolve()}"
    epochs, starts, ends, chosen, trials = 0, [], [], {}, {}
    for optimizer in optimizers:
        study = optuna.load_study(study_name=f"tune/{optimizer}/search", storage=storage)
        done = [t for t in study.trials if t.datetime_complete is not None]
        epochs += sum(float(t.user_attrs.get("epochs", 0)) for t in done)
        starts += [t.datetime_start for t in done]
        ends += [t.datetime_complete for t in done]
        finished = [t for t in done if t.user_attrs.get("status") == "ok"]
        chosen[optimizer] = max(finished, key=lambda t: t.value).params["optimizer.lr"] if finished else math.nan
        trials[optimizer] = [(t.params["optimizer.lr"], t.value) for t in finished]
    wall = (max(ends) - min(starts)).total_seconds() if ends else math.nan
    return {"epochs": epochs, "wall_s": wall, "chosen": chosen, "trials": trials}


def batch_search(folder: Path, optimizers: list[str]) -> dict:
    """The same, from the old protocol's folders and its tune.json (search steps timed one after another)."""
    record = json.loads((folder / "tune.json").read_text())
    wall = sum(v for k, v in record["wall_time_s"].items() if k.startswith("search "))
    epochs, chosen = 0, {}
    for optimizer in optimizers:
        runs = [json.loads(p.read_text()) for p in (folder / "search" / optimizer).rglob("summary.json")]
        epochs += sum(r["epochs"] for r in runs)
        finished = [r for r in runs if r["status"] == "ok"]
        chosen[optimizer] = max(finished, key=lambda r: r["val_acc"])["lr"] if finished else math.nan
    return {"epochs": epochs, "wall_s": wall, "chosen": chosen}


def good_range(trials: list[tuple[float, float]]) -> tuple[float, float]:
    best = max(value for _, value in trials)
    good = [lr for lr, value in trials if value >= best - GOOD_WITHIN]
    return min(good), max(good)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tune_search", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-python", help="python of an environment with commit 687474b installed; "
                        "without it the batch variant is left out")
    parser.add_argument("--optimizers", default=OPTIMIZERS)
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=absolute_path, default=ROOT / "outputs" / "bench_tune")
    parser.add_argument("--setting", nargs="*", default=SETTING, help="training overrides (default: the README's)")
    args = parser.parse_args()
    optimizers = args.optimizers.split(",")
    variants = ["asha3", "asha1", "none", *(["batch"] if args.batch_python else [])]
    results = {}
    for variant in variants:
        if (args.out / variant / "report").is_dir():
            print(f"{variant}: already run in {args.out / variant}, read back")
        else:
            python = args.batch_python if variant == "batch" else sys.executable
            seconds = launch("optlab.tune", tune_arguments(variant, args.optimizers, args.budget, args.workers,
                                                           args.out, args.setting), python=python)
            print(f"{variant}: the whole command took {seconds:.0f} s")
        read = batch_search if variant == "batch" else new_search
        results[variant] = read(args.out / variant, optimizers)
    reference = results["none"]
    print(f"\nsearch stage, {len(optimizers)} optimizers x {args.budget} trials, {args.workers} workers "
          f"({dt.date.today()}):")
    print("| variant | epochs trained | wall time | fewer epochs than none | less wall than none | "
          "fewer epochs than batch | less wall than batch |")
    print("|---|---|---|---|---|---|---|")
    for variant, result in results.items():
        versus = [reference["epochs"] / result["epochs"], reference["wall_s"] / result["wall_s"]]
        if "batch" in results:
            versus += [results["batch"]["epochs"] / result["epochs"], results["batch"]["wall_s"] / result["wall_s"]]
        cells = " | ".join(f"{ratio:.2f}x" for ratio in versus) + (" | – | –" if "batch" not in results else "")
        print(f"| {variant} | {result['epochs']:.1f} | {result['wall_s'] / 60:.1f} min | {cells} |")
    print("\nchosen lr (search seed) against the unpruned search's good range:")
    for optimizer in optimizers:
        low, high = good_range(reference["trials"][optimizer])
        chosen = {variant: result["chosen"][optimizer] for variant, result in results.items()}
        inside = {v: "inside" if low * 0.999 <= lr <= high * 1.001 else "outside" for v, lr in chosen.items()}
        print(f"- {optimizer}: good range {low:.3g}-{high:.3g}; "
              + ", ".join(f"{v} {lr:.3g} ({inside[v]})" for v, lr in chosen.items()))


if __name__ == "__main__":
    main()
