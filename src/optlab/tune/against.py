"""`against=<published protocol>`: your optimizer's runs paired with every optimizer that protocol published, from
its records (optlab.report.records), so that none of them is rerun; and one of its runs rerun here, so that you see
how far this machine, its torch or its device moves a published number.

The report (report/against/) has the tuned runs against the tuned and the default runs against the default, each
a report of optlab.report with yours as the reference: every other optimizer is compared with yours on the same
seeds (the same initial weights), Holm-corrected over all of them, in its forest plot and loss/epoch figure, and
the markdown says where yours ranks.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

from optlab.config.run_identity import override_key
from optlab.files import write_atomic
from optlab.report.records import Records, read_records, recorded_runs
from optlab.report.runs import load_runs
from optlab.report.table import group_runs, summarise
from optlab.report.write import ReportOptions, report_runs
from optlab.run.summary import RunSummary
from optlab.tune.settings import TuneSettings
from optlab.tune.work_queue import folder_name

STAGES = ("tuned", "default")
OPTIMIZER_KEYS = ("optimizer", "optimizer_name")  # yours: the rerun is of a published optimizer


def write_against_report(settings: TuneSettings) -> Path:
    """report/against/summary.md (and a report per stage beside it); returns the summary."""
    records = read_records(Path(str(settings.against)))
    out = settings.out / "report" / "against"
    mine = settings.optimizers[0]
    lines = [f"# {mine} against {records.folder}", "",
             f"{mine} was tuned by the published protocol's rules, on its seeds; the {len(published(records))} "
             "optimizers it published were not rerun (but for the one run below): their runs are read from its "
             "records (runs.csv, curves.csv).",
             ""]
    for stage in STAGES:
        own = load_runs([settings.out / stage / folder_name(mine)])
        theirs = recorded_runs(records, stage)
        if not own or not theirs:
            lines.append(f"- {stage}: no runs to pair ({len(own)} of yours, {len(theirs)} published)")
            continue
        outputs = report_runs([*theirs, *own], out / stage, ReportOptions(group_by=["optimizer"], reference=mine))
        lines.append(f"- {stage}: {rank_line(out / stage / 'summary.csv', mine)} "
                     f"([report]({outputs.markdown.relative_to(out)}))")
    lines += ["", reproduction_line(settings, records, out)]
    return write_atomic(out / "summary.md", "\n".join(lines) + "\n")


def published(records: Records) -> list[str]:
    return sorted(set(records.runs["optimizer"]))


def rank_line(summary_csv: Path, mine: str) -> str:
    """`signsgd ranks 7 of 18 by mean test accuracy; higher than 3, lower than 5, not separated from 9 (Holm)`."""
    table = pd.read_csv(summary_csv)
    ranked = table.dropna(subset=["test_acc"]).sort_values("test_acc", ascending=False).reset_index(drop=True)
    if mine not in set(ranked["optimizer"]):
        return f"{mine} has no finished run to rank"
    rank = int(ranked.index[ranked["optimizer"] == mine][0]) + 1
    others = table[table["optimizer"] != mine]
    verdicts = others["verdict"].value_counts()
    tested = int(others["p"].notna().sum())
    # A verdict is the other's difference from yours: "lower" there means yours is higher.
    return (f"{mine} ranks {rank} of {len(ranked)} by mean test accuracy; higher than {verdicts.get('lower', 0)}, "
            f"lower than {verdicts.get('higher', 0)}, not separated from {verdicts.get('not separated', 0)} "
            f"(paired on seeds, Holm over {tested}; {len(others) - tested} not tested)")


def reproduction_line(settings: TuneSettings, records: Records, out: Path) -> str:
    """Rerun the published reference's tuned run of the first rerun seed here, with this protocol's threads, and say
    how far its numbers moved."""
    chosen, seed = reference(records), int(records.protocol["seeds"]["rerun"][0])
    row = records.runs[(records.runs["optimizer"] == chosen) & (records.runs["stage"] == "tuned")
                       & (records.runs["seed"] == seed)]
    if row.empty:
        return f"Reproduction: {records.folder} holds no tuned run of {chosen} on seed {seed}."
    row = row.iloc[0]
    folder = settings.out / "reproduce" / folder_name(chosen) / f"seed{seed}"
    params = [f"{key}={value!r}" for key, value in json.loads(row["params"]).items()]
    threads = ["torch_threads=1"] if settings.workers > 1 else []  # as this protocol's own runs are computed
    # This protocol's training overrides: the published ones that change numbers (with_published carried them) and
    # yours, such as where the data lie here; not the published data.root, nor your optimizer's keys.
    training = [o for o in settings.train_overrides if override_key(o).split(".", 1)[0] not in OPTIMIZER_KEYS]
    command = [sys.executable, "-m", "optlab.train", *training, f"optimizer={chosen}", *params, f"seed={seed}",
               *threads, f"hydra.run.dir={folder}", "resume=true", "trainer.enable_progress_bar=false"]
    ran = subprocess.run(command, check=False, capture_output=True, text=True)
    summary = RunSummary.read(folder) if (folder / "summary.json").is_file() else None
    if summary is None or not math.isfinite(summary.test_acc):
        said = (ran.stderr.strip().splitlines() or ["nothing"])[-1]
        return (f"Reproduction: the rerun of {chosen}'s tuned seed {seed} did not finish (it said: "
                f"{said}); run `{' '.join(command[1:])}` to see why.")
    moved = 100 * (summary.test_acc - float(row["test_acc"]))
    return (f"Reproduction: {chosen}'s tuned run of seed {seed} (the published reference), rerun here: "
            f"test accuracy {100 * summary.test_acc:.2f}% against {100 * float(row['test_acc']):.2f}% published "
            f"({moved:+.2f} points; validation {100 * (summary.val_acc - float(row['val_acc'])):+.2f}). "
            + ("The same: this machine reproduces the published numbers exactly." if moved == 0 else
               "Differences of this size between machines are noise, not optimizer effects "
               "(docs/tools/your-optimizer.md)."))


def reference(records: Records) -> str:
    """The published reference: best tuned mean validation accuracy, ties broken as its report breaks them."""
    table = summarise(group_runs(recorded_runs(records, "tuned"), ["optimizer"]), None, "best_val_acc", None)
    return str(table[table["verdict"] == "reference"].iloc[0]["optimizer"])
