"""The least run time a tuning protocol's rules allow, from a published protocol's own per-run costs.

    python -m benchmarks.protocol_floor docs/results/tuning_v3_rerun

A protocol cannot cost less than what its rules make it run, however well it prunes: per optimizer, `top_k` search
trials that finish (selection's candidates, judged at the full budget), every other trial of the budget cut at the
first rung, every candidate on one selection seed (the first round of selection), and the tuned and default reruns
on every rerun seed (never pruned). Priced at the protocol's own measured costs (per optimizer, the mean wall time
of a finished search trial, of a trial cut at the first rung and of a selection run; the reruns as they ran), this
is the floor that no pruner or selection rule can go below without dropping part of the rigour (fewer trials,
candidates or seeds, or reruns drawn from a cache). Set beside the measured run time, it says how far a wall-time
goal can be reached by the protocol's rules alone, and how much must come from faster runs. A second floor prices
each finished search trial as a selection run (one validation an epoch, not `rungs_per_epoch`): what the search
would cost if its extra validations were free. A last line takes the search to its extreme: one trial finished per
optimizer, the other candidates stand-ins (pruned trials, as the protocol allows when fewer than top_k finish).
Protocols published before 2026-12-07 tested their selection runs (about 4-5 s a run on a 2-core machine), which
selection no longer does: priced at those runs, the selection floor and the second floor's search are high by that
much a run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from optlab.report.records import Records, RecordsError, read_records
from optlab.tune.work_queue import STAGES


class FloorError(ValueError):
    """A protocol whose records cannot price its floor (no trial cut at the first rung, no selection run)."""


@dataclass(frozen=True)
class Floor:
    """One stage: what it took, the least the rules allow, and what that least keeps."""

    stage: str
    measured_s: float
    floor_s: float
    cheap_validation_s: float  # the floor with each finished search trial priced as a selection run
    keeps: str


def optimizer_floor(runs: pd.DataFrame, finished: int, candidates: int, budget: int, first_rung: float
                    ) -> dict[str, tuple[float, float, float]]:
    """Per stage of one optimizer's runs: (measured, floor, floor with cheap search validation) in seconds, with
    `finished` search trials run to the end, the rest cut at the first rung (`first_rung` epochs in), and
    `candidates` on one selection seed."""
    search = runs[runs.stage == "search"]
    finished_s = search[search.status == "ok"].wall_s.mean()
    cut = search[(search.status == "pruned") & (search.pruned_at_epochs < 1.5 * first_rung)]
    selection = runs[runs.stage == "selection"]
    if cut.empty or selection.empty:
        raise FloorError(f"{runs.optimizer.iloc[0]} has no search trial cut at the first rung or no selection run: "
                         "its floor cannot be priced from these records (a protocol run with pruning and selection)")
    first_cut, selection = cut.wall_s.mean(), selection.wall_s.mean()
    floors = {"search": (finished * finished_s + (budget - finished) * first_cut,
                         finished * selection + (budget - finished) * first_cut),
              "selection": (candidates * selection,) * 2}
    result = {}
    for stage in STAGES:
        measured = float(runs[runs.stage == stage].wall_s.sum())
        result[stage] = (measured, *floors.get(stage, (measured, measured)))
    return result


def protocol_floor(records: Records, finished: int | None = None) -> list[Floor]:
    """The floor of each stage, summed over the optimizers whose search finished a trial (SparseAdam's skipped
    runs cost next to nothing either way); `finished` search trials per optimizer (top_k unless given)."""
    rules = records.protocol["rules"]
    top_k, budget = int(rules["selection"]["top_k"]), int(rules["budget"])
    first_rung = 1 / int(rules["rungs_per_epoch"])
    finished = top_k if finished is None else finished
    totals: dict[str, list[float]] = {}
    for _, runs in records.runs.groupby("optimizer"):
        if not (runs[runs.stage == "search"].status == "ok").any():
            continue
        for stage, values in optimizer_floor(runs, finished, top_k, budget, first_rung).items():
            totals[stage] = [a + b for a, b in zip(totals.get(stage, [0.0] * 3), values, strict=True)]
    keeps = {"search": f"{finished} finished, the other {budget - finished} of {budget} trials cut at the first rung",
             "selection": f"the {top_k} candidates on one selection seed",
             "tuned": "every rerun seed (never pruned)", "default": "every rerun seed (never pruned)"}
    return [Floor(stage, *totals[stage], keeps[stage]) for stage in totals]


def table(floors: list[Floor], extreme: list[Floor], workers: int) -> str:
    """The floor's table, its totals, and the extreme search's (one finished trial per optimizer) in a line."""
    lines = ["| stage | measured (worker-min) | floor (worker-min) | floor, search validated once an epoch | "
             "the floor keeps |", "|---|---|---|---|---|"]
    for f in floors:
        lines.append(f"| {f.stage} | {f.measured_s / 60:.1f} | {f.floor_s / 60:.1f} | "
                     f"{f.cheap_validation_s / 60:.1f} | {f.keeps} |")
    measured = sum(f.measured_s for f in floors)
    floor, cheap = sum(f.floor_s for f in floors), sum(f.cheap_validation_s for f in floors)
    reruns = sum(f.measured_s for f in floors if f.stage in ("tuned", "default"))
    one_finished = sum(f.floor_s for f in extreme)
    lines.append(f"| **all** | **{measured / 60:.1f}** | **{floor / 60:.1f} ({floor / measured:.3f}x)** | "
                 f"**{cheap / 60:.1f} ({cheap / measured:.3f}x)** | |")
    lines += ["", f"reruns alone: {reruns / 60:.1f} worker-min, {reruns / measured:.3f}x of the measured run time",
              f"with {workers} workers and no idle time, the floor's wall time is at least {floor / 60 / workers:.1f} "
              f"min ({cheap / 60 / workers:.1f} with the search validated once an epoch)",
              f"with one search trial finished per optimizer (the other candidates stand-ins): "
              f"{one_finished / 60:.1f} worker-min ({one_finished / measured:.3f}x)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a published protocol's report folder (runs.csv, protocol.json)")
    args = parser.parse_args(argv)
    try:
        records = read_records(args.folder)
        print(table(protocol_floor(records), protocol_floor(records, finished=1), int(records.protocol["workers"])))
    except (RecordsError, FloorError) as error:
        sys.exit(f"protocol_floor: {error}")


if __name__ == "__main__":
    main()
