"""Write a report: figures, summary.csv and summary.md (table + observations) for runs under some folders.

Runs of several tasks get one report per task and one over all of them. `family_by` splits runs of one task into
parts (one report each, e.g. one per optimizer comparing two schedules) whose comparisons are Holm-corrected as one
family: a claim made over the parts together must be corrected over all of their tests, not part by part."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from optlab.files import write_atomic
from optlab.report import figures
from optlab.report.across_tasks import (
    common_groups,
    costs,
    draw_critical_difference,
    draw_profiles,
    mean_ranks,
    rank_blocks,
    split_by_task,
)
from optlab.report.forest import forest
from optlab.report.observations import level_percent, write_observations
from optlab.report.per_class import per_class_lines
from optlab.report.runs import Run, load_runs
from optlab.report.statistics import ALPHA
from optlab.report.table import group_runs, summarise, summarise_family, time_to_target
from optlab.run.summary import Status


@dataclass(frozen=True)
class ReportOptions:
    target_acc: float | None = None  # None: each run's own target (report.target_acc when it ran)
    group_by: list[str] | None = None  # None: every config key that differs between the runs, seed aside
    sort_by: str = "val_acc"
    band: str = "minmax"  # or "std"
    reference: str | None = None  # None: the highest mean validation accuracy (ties: table.tie_order)
    family_by: list[str] | None = None  # keys splitting the runs into parts corrected as one family of tests


@dataclass(frozen=True)
class ReportOutputs:
    markdown: Path  # summary.md: table, observations, figures
    table: Path  # summary.csv
    figures: list[Path]  # none when no run finished


def describe(runs: list[Run]) -> str:
    """"digits, cifar_net, 3 epochs, seeds 1, 2" from the runs themselves."""
    def values(key: str) -> str:
        return ", ".join(str(v) for v in sorted({getattr(r.summary, key) for r in runs}))

    epochs = max((r.summary.epochs for r in runs), default=0)
    return f"{values('data')}, {values('model')}, {epochs} epochs, seeds {values('seed')}"


def check_options(options: ReportOptions) -> None:
    if options.band not in ("minmax", "std"):
        raise ValueError(f"unknown band {options.band!r}; choose minmax or std")
    if options.target_acc is not None and not 0 < options.target_acc <= 1:
        raise ValueError(f"target accuracy {options.target_acc} must be a fraction in (0, 1], e.g. 0.85 for 85%")


def write_report(paths: list[Path], out: Path, options: ReportOptions) -> ReportOutputs:
    """One report for runs of one task; for runs of several tasks, one per task (in out/<task>) and one over all."""
    runs = load_runs(paths)
    if not runs:
        raise FileNotFoundError(
            f"no summary.json under {', '.join(map(str, paths))}: point the report at run or sweep folders"
        )
    return report_runs(runs, out, options)


def report_runs(runs: list[Run], out: Path, options: ReportOptions) -> ReportOutputs:
    """write_report on runs already read: from their folders, or from a protocol's published records."""
    check_options(options)
    tasks = split_by_task(runs)
    if options.family_by:
        if len(tasks) > 1:
            raise ValueError(f"--family-by splits the runs of one task; these span {', '.join(tasks)}: report each "
                             "task on its own")
        return _family_report(runs, out, options)
    if len(tasks) == 1:
        return _task_report(runs, out, options).outputs
    return _across_tasks_report({task: _task_report(task_runs, out / task, options)
                                 for task, task_runs in tasks.items()}, out)


@dataclass(frozen=True)
class TaskReport:
    outputs: ReportOutputs
    groups: dict[str, list[Run]]
    table: pd.DataFrame


def _task_report(runs: list[Run], out: Path, options: ReportOptions) -> TaskReport:
    groups = group_runs(runs, options.group_by)
    table = summarise(groups, options.target_acc, options.sort_by, options.reference)
    return _write_task(runs, groups, table, out, options)


def _write_task(runs: list[Run], groups: dict[str, list[Run]], table: pd.DataFrame, out: Path,
                options: ReportOptions) -> TaskReport:
    ranges = {label: _epoch_range(runs_, options.target_acc) for label, runs_ in groups.items()}
    out.mkdir(parents=True, exist_ok=True)
    title = describe(runs)
    finished = any(r.summary.status == Status.OK for r in runs)
    drawn = _draw(groups, table, ranges, options, title, out, finished)
    csv = write_atomic(out / "summary.csv", table.to_csv(index=False))
    sections = per_class_lines(groups, list(table["group"]))
    markdown = write_atomic(out / "summary.md", render_markdown(table, ranges, title, drawn, out, sections))
    return TaskReport(ReportOutputs(markdown=markdown, table=csv, figures=drawn), groups, table)


def _family_report(runs: list[Run], out: Path, options: ReportOptions) -> ReportOutputs:
    """A report per part in out/<part>, one Holm correction over all of their comparisons, and out/summary.md
    listing every comparison of the family with its corrected p."""
    keys = options.family_by or []
    parts = group_runs(runs, keys)  # labelled, and unknown keys refused, as groups are
    groups = {part: group_runs(part_runs, options.group_by) for part, part_runs in parts.items()}
    family = f"{len(parts)} reports split by {', '.join(keys)} ({', '.join(parts)}; ../summary.md)"
    tables = summarise_family(groups, options.target_acc, options.sort_by, options.reference, family)
    reports = {part: _write_task(parts[part], groups[part], tables[part], out / part_folder(part), options)
               for part in parts}
    return _write_family_index(reports, out, keys)


def part_folder(label: str) -> str:
    """A part's folder under the family's: its label with no slash or space ("zoo-any_name=prodigy")."""
    return label.replace("/", "-").replace(" ", "_")


def _write_family_index(reports: dict[str, TaskReport], out: Path, keys: list[str]) -> ReportOutputs:
    """summary.csv: one row per comparison (part, group, difference, p, Holm's p over the family, verdict);
    summary.md: the same as a table, with links to each part's report."""
    rows = pd.concat([r.table.assign(part=part) for part, r in reports.items()], ignore_index=True)
    rows = rows[rows["verdict"] != "reference"]
    columns = ["part", "group", "reference", "compared_on", "diff", "diff_low", "diff_high", "p", "p_holm",
               "diff_holm_low", "diff_holm_high", "diff_holm_level", "verdict", "holm_tests"]
    csv = write_atomic(out / "summary.csv", rows[columns].to_csv(index=False))
    tests = int(rows["holm_tests"].max()) if len(rows) else 0
    lines = [f"# One family of tests over {len(reports)} reports split by {', '.join(keys)}", "",
             f"Every comparison of the parts below, Holm-corrected together over their {tests} tests at {ALPHA:.0%}; "
             "each part's report shows the same corrected p and verdict. The interval is at the level Holm's "
             "correction tested the comparison, so it excludes 0 exactly when the verdict separates.", "",
             "| part | group | vs reference (CI at Holm's level) | p | p (Holm) | verdict |",
             "|---|---|---|---|---|---|"]
    for row in rows.itertuples():
        lines.append(f"| [{row.part}]({part_folder(row.part)}/summary.md) | {row.group} vs {row.reference} "
                     f"| {_difference(row)} | {_num(row.p, '{:.3f}')} | {_num(row.p_holm, '{:.3f}')} | {row.verdict} |")
    markdown = write_atomic(out / "summary.md", "\n".join(lines) + "\n")
    return ReportOutputs(markdown=markdown, table=csv, figures=[f for r in reports.values() for f in r.outputs.figures])


def _across_tasks_report(reports: dict[str, TaskReport], out: Path) -> ReportOutputs:
    """Performance profiles and the critical-difference diagram over the tasks, with a table of scores."""
    tables = {task: report.table for task, report in reports.items()}
    metric = next(iter(tables.values()))["compared_on"].iloc[0]
    groups, left_out = common_groups(tables, metric)
    if not groups:
        raise ValueError(f"no group ran and finished in every task ({', '.join(tables)}): nothing to compare across "
                         "them; report each task's sweep on its own")
    seeds = max(len({r.summary.seed for runs in report.groups.values() for r in runs}) for report in reports.values())
    profile_path, scores = draw_profiles(costs(tables, groups, metric), seeds, out / "performance_profiles.png")
    blocks = rank_blocks({task: report.groups for task, report in reports.items()}, groups, metric)
    cd_path, cd_sentence = draw_critical_difference(blocks, out / "critical_difference.png", metric)
    if cd_path is None:  # too few tasks for the diagram: a copy from an earlier report of this folder would be stale
        (out / "critical_difference.png").unlink(missing_ok=True)
    table = pd.DataFrame({task: t.set_index("group").reindex(groups)[metric] for task, t in tables.items()})
    table = table.join(scores.add_prefix("score: ")).join(mean_ranks(blocks).rename("mean rank")).sort_values(
        "mean rank").rename_axis("group").reset_index()
    csv = write_atomic(out / "summary.csv", table.to_csv(index=False))
    drawn = [path for path in (profile_path, cd_path) if path is not None]
    lines = [f"# {len(reports)} tasks: {', '.join(reports)}", "",
             f"{metric.replace('_', ' ')} per task (mean over seeds), the performance-profile scores (area under the "
             "profile, 1 = best on every task) and the mean rank over the tasks (within each task, ranked by the "
             "mean over its seeds).", "",
             "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, c) for v, c in zip(row, table.columns, strict=True)) + " |")
    lines += ["", cd_sentence]
    if left_out:
        lines += ["", f"Left out (not run, or never finished, in every task): {', '.join(left_out)}."]
    lines += ["", "## Each task", ""] + [f"- [{task}]({r.outputs.markdown.relative_to(out)})"
                                         for task, r in reports.items()]
    lines += ["", "## Figures", ""] + [f"![{p.stem}]({p.relative_to(out)})" for p in drawn]
    markdown = write_atomic(out / "summary.md", "\n".join(lines) + "\n")
    return ReportOutputs(markdown=markdown, table=csv, figures=drawn)


def _cell(value: object, column: str) -> str:
    if isinstance(value, str):
        return value
    if column.startswith("score") or column == "mean rank":
        return _num(float(value), "{:.2f}")
    return _num(float(value), "{:.2%}")


def _epoch_range(runs: list[Run], target: float | None) -> tuple[float, float]:
    """Fewest and most epochs to target over a group's runs (inf for a miss)."""
    epochs = [time_to_target(r, target if target is not None else r.summary.target_acc)[0] for r in runs]
    epochs = [e for e in epochs if not math.isnan(e)]
    return (min(epochs), max(epochs)) if epochs else (math.nan, math.nan)


def _draw(groups, table: pd.DataFrame, ranges, options: ReportOptions, title: str, out: Path,
          finished: bool) -> list[Path]:
    """The figures that apply to these runs (none unless a run finished). One that does not (no layer drift recorded,
    say) is not drawn, and a copy left in `out` by an earlier report of the same folder is removed, so the folder
    never shows a stale one."""
    styles = figures.group_styles(table)
    order = list(table["group"])  # best first: the curve figures colour the first few
    band = "min-max" if options.band == "minmax" else "±1 std"
    draws: dict[str, Callable[[Path], Path | None]] = {
        "comparison.png": lambda path: forest(table, styles, f"Paired difference from the reference — {title}", path),
        "ranking.png": lambda path: figures.ranking(table, styles, ranges, f"Ranking — {title}", path),
        "loss_epoch.png": lambda path: figures.loss_by_epoch(
            groups, styles, order, options.band, f"{title} (mean, band: {band} over runs)", path),
        "convergence.png": lambda path: figures.convergence_by_epoch(
            groups, styles, order, options.band, f"Convergence — {title} (mean, band: {band} over runs)", path),
        "loss_time.png": lambda path: figures.loss_by_time(
            groups, styles, order, f"Validation loss against time — {title}", path),
        "cost.png": lambda path: figures.cost_bars(table, styles, f"Cost — {title}", path),
        "layer_drift.png": lambda path: figures.layer_drift(
            groups, order, f"How far each layer moved from the initial weights — {title}", path),
        "dynamics.png": lambda path: figures.dynamics(
            groups, styles, order, options.band, f"Optimizer dynamics, whole network — {title}", path),
    }
    drawn = []
    for name, draw in draws.items():
        path = draw(out / name) if finished else None
        if path is None:
            (out / name).unlink(missing_ok=True)
        else:
            drawn.append(path)
    return drawn


def render_markdown(table: pd.DataFrame, ranges, title: str, drawn: list[Path], out: Path,
                    sections: list[str] | None = None) -> str:
    """The table, the observations, any further `sections` (markdown lines), then the figures."""
    targets = table["target_acc"].dropna()
    target = f"{targets.iloc[0]:.0%}" if len(targets) and targets.nunique() == 1 else "target"
    metric = table["compared_on"].iloc[0].replace("_", " ") if len(table) else "accuracy"
    reference = table["reference"].iloc[0] if len(table) else ""
    header = ["group", "runs", "status", "val acc", f"{metric} (95% CI)", f"vs {reference} (CI at Holm's level)",
              "p (Holm)", "verdict", f"epochs to {target} (median, reached)", "s/epoch", "optimizer state"]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    column = table["compared_on"].iloc[0] if len(table) else "test_acc"
    for row in table.itertuples():
        value, low, high = getattr(row, column), getattr(row, f"{column}_low"), getattr(row, f"{column}_high")
        cells = [
            row.group, str(row.runs), row.status, _num(row.val_acc, "{:.2%}"),
            (f"{value:.2%} ({low:.2%} to {high:.2%})" if math.isfinite(low) else _num(value, "{:.2%}")),
            _difference(row),
            _num(row.p_holm, "{:.3f}"), row.verdict,
            _time(row.epochs_to_target, row.reached_target, row.runs, ranges.get(row.group)),
            _num(row.epoch_time_s, "{:.2f}"),
            _num(row.optimizer_state_bytes / 2**10, "{:,.0f} KiB"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if table["diff_holm_low"].notna().any():
        lines += ["", f"Differences from {reference} are paired by seed; each interval is at the level Holm's "
                  f"correction tested it (after the semicolon), so it excludes 0 exactly when p (Holm) < {ALPHA}. "
                  "summary.csv also gives the unadjusted 95% interval (diff_low, diff_high)."]
    lines += ["", "## Observations", ""] + [f"- {line}" for line in write_observations(table, ranges)]
    lines += sections or []
    if drawn:
        lines += ["", "## Figures", ""] + [f"![{p.stem}]({p.relative_to(out)})" for p in drawn]
    return "\n".join(lines) + "\n"


def _difference(row) -> str:
    """"+0.85% (-1.02% to +2.71%; 98.75%)": the paired difference from the reference with its interval at the level
    Holm's correction tested it (statistics.holm_confidence), which the verdict agrees with."""
    if row.verdict == "reference" or not math.isfinite(row.diff):
        return "—"
    ci = (f" ({row.diff_holm_low:+.2%} to {row.diff_holm_high:+.2%}; {level_percent(row.diff_holm_level)})"
          if math.isfinite(row.diff_holm_low) else "")
    return f"{row.diff:+.2%}{ci}"


def _num(value: float, fmt: str) -> str:
    return fmt.format(value) if isinstance(value, float) and math.isfinite(value) else "—"


def _time(median: float, reached: int, runs: int, span: tuple[float, float] | None) -> str:
    """"1.25 (1.00-1.50; 3/3)", "never (1/3)", or "—" when no target applies."""
    if math.isnan(median):
        return "—"
    if math.isinf(median):
        return f"never ({reached}/{runs})"
    low, high = span or (median, median)
    spread = f"{low:.2f}-{'never' if math.isinf(high) else f'{high:.2f}'}; " if low != high else ""
    return f"{median:.2f} ({spread}{reached}/{runs})"
