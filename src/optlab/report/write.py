"""Write a report: figures, summary.csv and summary.md (table + observations) for runs under some folders."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from optlab.report import figures
from optlab.report.observations import write_observations
from optlab.report.runs import Run, load_runs
from optlab.report.table import default_target, group_runs, summarise
from optlab.summary import write_atomic


@dataclass(frozen=True)
class ReportOptions:
    target_acc: float | None = None  # None: 90% of the best run's validation accuracy
    group_by: list[str] = field(default_factory=lambda: ["optimizer"])
    sort_by: str = "epochs_to_target"
    band: str = "minmax"  # or "std"


@dataclass(frozen=True)
class ReportOutputs:
    figure: Path  # the main figure: loss per epoch
    table: Path  # summary.csv
    markdown: Path
    figures: list[Path]


def describe(runs: list[Run]) -> str:
    """"digits, cifar_net, 3 epochs, seeds 1, 2" from the runs themselves."""
    def values(key: str) -> str:
        return ", ".join(str(v) for v in sorted({getattr(r.summary, key) for r in runs}))

    epochs = max((r.summary.epochs for r in runs), default=0)
    return f"{values('data')}, {values('model')}, {epochs} epochs, seeds {values('seed')}"


def write_report(paths: list[Path], out: Path, options: ReportOptions) -> ReportOutputs:
    if options.band not in ("minmax", "std"):
        raise ValueError(f"unknown band {options.band!r}; choose minmax or std")
    runs = load_runs(paths)
    if not runs:
        raise FileNotFoundError(f"no summary.json under {', '.join(map(str, paths))}: point the report at run or sweep folders")
    groups = group_runs(runs, options.group_by)
    target = options.target_acc if options.target_acc is not None else default_target(runs)
    table = summarise(groups, target, options.sort_by)
    out.mkdir(parents=True, exist_ok=True)

    colours = figures.group_colours(list(groups))
    title = describe(runs)
    band = "min-max" if options.band == "minmax" else "±1 std"
    drawn = [
        figures.loss_by_epoch(groups, colours, options.band, f"{title} (mean, band: {band} over runs)", out / "loss_epoch.png"),
        figures.accuracy_by_epoch(groups, colours, options.band, f"Validation accuracy — {title}", out / "val_acc_epoch.png"),
        figures.loss_by_time(groups, colours, f"Validation loss against time — {title}", out / "loss_time.png"),
        figures.cost_bars(table, colours, f"Cost — {title}", out / "cost.png"),
    ]
    csv = write_atomic(out / "summary.csv", table.to_csv(index=False))
    markdown = write_atomic(out / "summary.md", render_markdown(table, target, title, drawn, out))
    return ReportOutputs(figure=drawn[0], table=csv, markdown=markdown, figures=drawn)


def render_markdown(table: pd.DataFrame, target: float, title: str, drawn: list[Path], out: Path) -> str:
    header = ["group", "runs", "status", "train loss", "val loss", "best val acc", "test acc",
              f"epochs to {target:.0%}" if math.isfinite(target) else "epochs to target",
              "seconds to target", "s/epoch", "optimizer state"]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        cells = [
            row.group, str(row.runs), row.status, _num(row.train_loss, "{:.3f}"), _num(row.val_loss, "{:.3f}"),
            _num(row.best_val_acc, "{:.2%}"),
            f"{row.test_acc:.2%} ± {row.test_acc_std:.2%}" if math.isfinite(row.test_acc) else "—",
            _never(row.epochs_to_target, "{:.1f}", row.reached_target, row.status),
            _never(row.seconds_to_target, "{:.1f}", row.reached_target, row.status),
            _num(row.epoch_time_s, "{:.2f}"),
            _num(row.optimizer_state_bytes / 2**10, "{:,.0f} KiB"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Observations", ""] + [f"- {line}" for line in write_observations(table, target)]
    lines += ["", "## Figures", ""] + [f"![{p.stem}]({p.relative_to(out)})" for p in drawn]
    return "\n".join(lines) + "\n"


def _num(value: float, fmt: str) -> str:
    return fmt.format(value) if isinstance(value, float) and math.isfinite(value) else "—"


def _never(value: float, fmt: str, reached: str, status: str) -> str:
    """"never" for groups that trained and missed the target; "—" for groups that never trained."""
    if not math.isfinite(value):
        return "never" if ("ok" in status or "diverged" in status) else "—"
    done, total = reached.split("/")
    return fmt.format(value) + ("" if done == total else f" ({reached})")
