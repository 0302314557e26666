"""The report's per-class section: which classes each group gets right, by the data set's own class names.

A mean over a group's finished runs of each class's test accuracy (summary.json's test_acc_per_class). Up to
MAX_COLUMNS classes are a table, one column per class; with more (CIFAR-100, EMNIST) each group lists its weakest
classes instead, since a 100-column table helps no reader.
"""

from __future__ import annotations

import math

from optlab.report.runs import Run
from optlab.run.summary import Status

MAX_COLUMNS = 20
WEAKEST = 5


def per_class_accuracy(runs: list[Run]) -> dict[str, float]:
    """{class name: mean test accuracy over the finished runs that measured it}, in the data set's class order."""
    measured = [r.summary.test_acc_per_class for r in runs if r.summary.status == Status.OK
                and r.summary.test_acc_per_class]
    names = list(measured[0]) if measured else []
    return {name: _mean([m.get(name, math.nan) for m in measured]) for name in names}


def per_class_lines(groups: dict[str, list[Run]], order: list[str]) -> list[str]:
    """Markdown lines of the section (none when no run recorded per-class accuracy)."""
    accuracy = {label: per_class_accuracy(groups[label]) for label in order}
    accuracy = {label: values for label, values in accuracy.items() if values}
    if not accuracy:
        return []
    names = list(next(iter(accuracy.values())))
    lines = ["", "## Test accuracy per class", "",
             f"{len(names)} classes; mean over each group's finished runs (summary.json: test_acc_per_class)."]
    if len(names) <= MAX_COLUMNS:
        lines += ["", "| group | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
        lines += [f"| {label} | " + " | ".join(_percent(values.get(n, math.nan)) for n in names) + " |"
                  for label, values in accuracy.items()]
        return lines
    lines.append("")
    for label, values in accuracy.items():
        weakest = sorted((v, n) for n, v in values.items() if math.isfinite(v))[:WEAKEST]
        lines.append(f"- {label}, weakest classes: " + ", ".join(f"{n} {_percent(v)}" for v, n in weakest))
    return lines


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _percent(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "—"
