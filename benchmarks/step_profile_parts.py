"""Where a training step's time goes: py-spy raw profiles of optlab runs, split into the parts of docs/benchmarks.md.

Each sample inside a training batch is counted under the innermost frame that names a part (the model's forward,
backward and update, the data path, optlab's hooks, logging), the rest under Lightning's loop. Profiles of
several trees, one column each. A part's file is matched in both of optlab's layouts (optlab/data.py before the
modules moved into packages, optlab/data/datamodule.py after), so that a profile of an older commit splits alike:

    py-spy record -r 250 -f raw -o now.txt -- python -m optlab.train data=cifar10 data.root=data \\
        data.verify=false optimizer=momentum data.batch_size=32 trainer.max_epochs=1 test=false
    python -m benchmarks.step_profile_parts f2cdc7a=ref.txt now=now.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

IN_A_BATCH = "advance (lightning/pytorch/loops/training_epoch_loop.py"
METHOD = r"^(?:\w+\.)?"  # py-spy names frames Class.method (file:line)
PARTS = [  # (pattern, part), tried on each frame from the innermost outwards
    (r"\(optlab/(run/)?callbacks\.py", "optlab's callbacks"),
    (r"\(optlab/(run/)?dynamics\.py", "optlab's dynamics callback"),
    (METHOD + r"on_after_batch_transfer \(optlab/data(/datamodule)?\.py",
     "data: normalisation and precision conversion"),
    (r"\(optlab/data(/datamodule)?\.py|_next_data|fetch \(torch/utils/data", "data: batch fetch"),
    (METHOD + r"(_single_tensor_sgd|_multi_tensor_sgd)", "model: SGD update"),
    (METHOD + r"(run_backward|_engine_run_backward|backward) \(torch/", "model: backward"),
    (METHOD + r"cross_entropy \(torch/", "model: loss"),
    (METHOD + r"forward \(optlab/models(/cnns)?\.py", "model: forward"),
    (r"\(optlab/(run/)?(classifier|module)\.py", "optlab's LightningModule"),
    (r"log_metrics|tensorboard|^log \(lightning", "logging"),
]
REST = "Lightning: loop, hook dispatch, closure, wrappers"


def samples(profile: Path) -> Iterator[tuple[str, int]]:
    """(stack, samples) of each line of a py-spy raw profile ('frame;frame;... count')."""
    for line in profile.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        yield stack, int(number)


def parts(profile: Path) -> Counter:
    """Samples per part of one py-spy raw profile, training batches only."""
    counts: Counter = Counter()
    for stack, number in samples(profile):
        if IN_A_BATCH not in stack:
            continue
        frames = reversed(stack.split(";"))
        part = next((name for frame in frames for pattern, name in PARTS if re.search(pattern, frame)), REST)
        counts[part] += number
    return counts


def main(arguments: list[str]) -> None:
    if not arguments or any("=" not in a for a in arguments):
        sys.exit("usage: python -m benchmarks.step_profile_parts NAME=PROFILE.txt [NAME=PROFILE.txt ...]")
    columns = {name: parts(Path(path)) for name, path in (a.split("=", 1) for a in arguments)}
    totals = {name: sum(counts.values()) or 1 for name, counts in columns.items()}
    order = sorted({p for counts in columns.values() for p in counts},
                   key=lambda p: -sum(columns[n][p] / totals[n] for n in columns))
    print("| part | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for part in order:
        print(f"| {part} | " + " | ".join(f"{columns[n][part] / totals[n]:.1%}" for n in columns) + " |")
    print("samples in training batches: " + ", ".join(f"{n} {totals[n]}" for n in columns))


if __name__ == "__main__":
    main(sys.argv[1:])
