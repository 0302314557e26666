"""Where a whole run's time goes, start-up to exit: py-spy raw profiles of optlab runs split into phases (imports,
Hydra's compose, data, building the model and trainer, training batches, validation, test, the rest), in seconds.

A tune worker pays imports and Hydra's start once per process; everything else once per trial. The per-run
overhead is then what is neither a training batch nor a validation nor imports: what a trial costs beyond the
epochs it trains. Only the main thread is counted (the TensorBoard writer's thread waits in a queue, and py-spy
counts a waiting thread's samples as if it ran). The rate converts samples to seconds: give py-spy's `-r`.

    py-spy record -r 100 -f raw -o rerun.txt -- python -m optlab.train data=fashion_mnist model=mnist_net \\
        data.root=/usr/share/datasets/fashion-mnist data.train_size=20000 trainer.max_epochs=5 torch_threads=1
    python -m benchmarks.run_profile_phases --rate 100 rerun=rerun.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from benchmarks.step_profile_parts import IN_A_BATCH, samples

MAIN_THREAD = "_run_module_as_main ("
PHASES = [  # (pattern, phase), the first whose pattern is in a main-thread stack names its phase
    (re.escape(IN_A_BATCH), "training batches"),
    (r"Trainer\._test_impl|Trainer\.test \(", "test (the final evaluation, set-up included)"),
    (r"loops/evaluation_loop\.py", "validation"),
    (r"_find_and_load", "imports"),
    (r"Hydra\.compose_config|hydra/_internal/config_loader", "Hydra: compose the config"),
    (r"prepare_data|(setup|_train_images|_decode\w*) \(optlab/data", "data: read, decode, split"),
    (r"instantiate \(hydra|build_model|configure_optimizers", "building the model and optimizer"),
    (r"Trainer\.__init__|Trainer\._run \(|_run_stage", "Lightning: trainer set-up and teardown"),
    (r"\(optlab/run/(summary|provenance|job)\.py", "optlab: the run's records"),
]
REST = "other"
OVERHEAD_EXCLUDES = {"training batches", "validation", "imports"}


def phases(profile: Path) -> Counter:
    """Main-thread samples per phase of one py-spy raw profile."""
    counts: Counter = Counter()
    for stack, number in samples(profile):
        if stack.startswith(MAIN_THREAD):
            counts[next((name for pattern, name in PHASES if re.search(pattern, stack)), REST)] += number
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, required=True, help="py-spy's sampling rate (-r), samples a second")
    parser.add_argument("profiles", nargs="+", metavar="NAME=PROFILE.txt")
    arguments = parser.parse_args()
    if any("=" not in a for a in arguments.profiles):
        parser.error("each profile is NAME=PROFILE.txt")
    columns = {name: phases(Path(path)) for name, path in (a.split("=", 1) for a in arguments.profiles)}
    order = [name for _, name in PHASES] + [REST]
    print("| phase (s) | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for phase in order:
        if any(counts[phase] for counts in columns.values()):
            print(f"| {phase} | " + " | ".join(f"{counts[phase] / arguments.rate:.1f}" for counts in columns.values())
                  + " |")
    for label, keep in (("whole run", lambda p: True), ("per-run overhead", lambda p: p not in OVERHEAD_EXCLUDES)):
        print(f"| **{label}** | " + " | ".join(
            f"**{sum(n for p, n in counts.items() if keep(p)) / arguments.rate:.1f}**" for counts in columns.values())
            + " |")


if __name__ == "__main__":
    main()
