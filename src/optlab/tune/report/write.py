"""The protocol's report, in `<out>/report/`:

- `tuned/`: optlab's usual report of the reruns at the chosen settings (every optimizer on the same fresh seeds:
  CIs over seeds, paired tests against the highest validation accuracy, a tie within statistics.TIE said and broken
  by the lower validation loss, Holm-corrected), and `default/` the same for the config defaults;
- `tuning.md` / `tuning.csv`: what ran, counted from the protocol (the search trials per optimizer and which were
  widened, how many completed and were pruned, the pruned ones that stood in for selection, each optimizer's
  selection runs); per optimizer the range searched (widened where the best lay at an edge), the trials'
  outcomes (ok, pruned, diverged, failed), the default and the chosen lr, how wide the good range was (pruned trials
  counted at the rung where they stopped: SearchResult.good_range_decades), default vs
  tuned accuracy (paired over the rerun seeds, Holm-corrected over optimizers), the test accuracy of the tuned
  reruns, the chosen setting's score on the search seed, the selection seeds and the fresh seeds (the winner's
  curse, measured), the rank before and after tuning (accuracies within statistics.TIE share a rank); and what
  each stage cost, in runs, epochs and wall time;
- `lr_sensitivity.png`: every trial's validation accuracy against its lr, per optimizer;
- `runs.csv` / `curves.csv`: the per-run records all of it rests on (optlab.tune.report.records).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from optlab.files import write_atomic
from optlab.report.figures import optimizer_colours
from optlab.report.runs import find_run_folders
from optlab.report.statistics import (
    ALPHA,
    NOT_SEPARATED,
    holm,
    holm_confidence,
    mean_ci,
    paired_comparison,
    tie_ranks,
)
from optlab.report.write import ReportOptions, write_report
from optlab.run.summary import FILENAME, RunSummary, Status
from optlab.tune.identity import write_identity
from optlab.tune.report.records import write_records
from optlab.tune.report.sensitivity_figure import draw_sensitivity
from optlab.tune.report.trials import SearchResult, read_search
from optlab.tune.settings import TuneSettings
from optlab.tune.work_queue import WorkQueue, folder_name
from optlab.tune.worker import RECORD, load_work_queue


def write_tuning_report(settings: TuneSettings) -> Path:
    """Everything above from the protocol's folders (so it can be written again at any time); returns tuning.md."""
    out = settings.out / "report"
    queue = load_work_queue(settings.out)
    searches = {o: read_search(queue, o) for o in settings.optimizers}
    tuned = {o: _per_seed(settings.out / "tuned" / folder_name(o)) for o in settings.optimizers}
    default = {o: _per_seed(settings.out / "default" / folder_name(o)) for o in settings.optimizers}
    by_optimizer = ReportOptions(group_by=["optimizer"])
    reports = {}
    for kind in ("tuned", "default"):
        if any((settings.out / kind).rglob(FILENAME)):
            reports[kind] = write_report([settings.out / kind], out / kind, by_optimizer).markdown
    table = tuning_table(searches, tuned, default)
    write_atomic(out / "tuning.csv", table.to_csv(index=False))
    costs = stage_costs(queue)
    write_atomic(out / "costs.csv", costs.to_csv(index=False))
    write_records(queue, out)
    write_identity(settings, out)
    figure = draw_sensitivity(searches, table, optimizer_colours(settings.optimizers), out / "lr_sensitivity.png")
    wall_time = json.loads((settings.out / RECORD).read_text())["wall_time_s"]
    return write_atomic(out / "tuning.md", render(settings, table, costs, reports, figure, wall_time, out))


def stage_costs(queue: WorkQueue) -> pd.DataFrame:
    return pd.DataFrame(queue.costs())


def _per_seed(folder: Path) -> dict[int, RunSummary]:
    summaries = [RunSummary.read(run) for run in find_run_folders([folder])] if folder.is_dir() else []
    return {s.seed: s for s in summaries if s is not None}


def default_lrs(default: dict[str, dict[int, RunSummary]]) -> dict[str, float]:
    """Each optimizer's config default lr, as its default reruns recorded it."""
    return {o: next(iter(runs.values())).lr for o, runs in default.items() if runs}


def _accuracies(runs: dict[int, RunSummary], metric: str) -> dict[int, float]:
    """Per seed; a run that did not finish counts as 0.0, as in the search (a diverged default is a result). A skipped
    run has none: the optimizer does not apply to the model (SparseAdam on dense gradients), so it is not ranked."""
    return {seed: getattr(s, metric) if s.status == Status.OK else 0.0 for seed, s in runs.items()
            if s.status != Status.SKIPPED}


def tuning_table(searches: dict[str, SearchResult], tuned: dict[str, dict[int, RunSummary]],
                 default: dict[str, dict[int, RunSummary]]) -> pd.DataFrame:
    tuned_val = {o: _accuracies(tuned[o], "val_acc") for o in searches}
    default_val = {o: _accuracies(default[o], "val_acc") for o in searches}
    gains = {o: paired_comparison(tuned_val[o], default_val[o]) for o in searches}
    # Holm's correction first, so that each gain's interval is written once, at the level the correction tested it:
    # it excludes 0 exactly when the verdict beside it says better or worse (statistics.holm_confidence).
    gains_p_holm = dict(zip(gains, holm([g.p_value for g in gains.values()]), strict=True))
    rows = []
    for optimizer, result in searches.items():
        best = result.best
        tuned_ci = mean_ci(list(tuned_val[optimizer].values()))
        default_ci = mean_ci(list(default_val[optimizer].values()))
        test_ci = mean_ci(list(_accuracies(tuned[optimizer], "test_acc").values()))
        gain, gain_p_holm = gains[optimizer], gains_p_holm[optimizer]
        held = gain.interval(holm_confidence(gain.p_value, gain_p_holm))
        chosen = result.chosen
        rows.append({
            "optimizer": optimizer, "trials": len(result.trials), "widened_trials": result.widened_trials,
            "trials_ok": result.count(Status.OK), "trials_pruned": result.count(Status.PRUNED),
            "trials_diverged": result.count(Status.DIVERGED),
            "trials_failed": result.count(Status.FAILED) + result.count(Status.SKIPPED),
            "lr_low": result.lr_range[0], "lr_high": result.lr_range[1],
            "configured_low": result.configured_range[0], "configured_high": result.configured_range[1],
            "default_lr": default_lrs(default).get(optimizer, math.nan),
            "tuned_lr": chosen.lr if chosen else math.nan, "search_val_acc": result.search_score(chosen),
            "selection_val_acc": result.selection_score(chosen), "stand_ins": len(result.stand_ins),
            "selection_runs": sum(len(scores) for scores in result.selection.values()),
            "search_best_lr": best.lr if best else math.nan,
            "also_chosen": " ".join(f"{k}={v}" for k, v in chosen.params.items() if k != "optimizer.lr")
            if chosen else "",
            "good_range_decades": result.good_range_decades, "good_trials": len(result.good_trials),
            "good_pruned": sum(t.status == Status.PRUNED for t in result.good_trials),
            "note": "" if best else result.why_none,
            "at_edge": result.at_edge,
            "default_val_acc": default_ci.mean, "default_val_low": default_ci.low, "default_val_high": default_ci.high,
            "tuned_val_acc": tuned_ci.mean, "tuned_val_low": tuned_ci.low, "tuned_val_high": tuned_ci.high,
            "tuned_test_acc": test_ci.mean, "tuned_test_low": test_ci.low, "tuned_test_high": test_ci.high,
            "gain": gain.difference.mean, "gain_low": held.low, "gain_high": held.high,
            "gain_p": gain.p_value, "seeds": len(tuned_val[optimizer]), "gain_p_holm": gain_p_holm,
        })
    table = pd.DataFrame(rows)
    table["rank_default"] = tie_ranks(list(table["default_val_acc"]))
    table["rank_tuned"] = tie_ranks(list(table["tuned_val_acc"]))
    return table.sort_values("tuned_val_acc", ascending=False, na_position="last").reset_index(drop=True)


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:.2f}"


def _ci(mean: float, low: float, high: float) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{_pct(mean)} [{_pct(low)}, {_pct(high)}]" if math.isfinite(low) else _pct(mean)


def _lr(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.3g}"


def _decades(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1f} dec"


def _rank(value: float) -> str:
    return "–" if not math.isfinite(value) else str(int(value))


def _gain(row: pd.Series) -> str:
    if not math.isfinite(row.gain):
        return "–"
    verdict = ("better" if row.gain > 0 else "worse") if row.gain_p_holm < ALPHA else NOT_SEPARATED
    p = f"p_Holm {row.gain_p_holm:.3f}" if math.isfinite(row.gain_p_holm) else "no test"
    return f"{_ci(row.gain, row.gain_low, row.gain_high)} ({p}: {verdict})"


def render(settings: TuneSettings, table: pd.DataFrame, costs: pd.DataFrame, reports: dict[str, Path],
           figure: Path | None, wall_time: dict[str, float], out: Path) -> str:
    widen = settings.widen
    lines = [
        "# Tuning protocol",
        "",
        " ".join(budget_sentences(settings, table, costs))
        + " Every choice is made on validation accuracy; test accuracy is reported for the reruns only.",
        f"Runs: `{' '.join(settings.train_overrides) or '(defaults)'}`. Wall time: "
        f"{_minutes(wall_time.get('workers', 0.0))} with {settings.workers} worker(s)"
        + (f", learning-rate finder {_minutes(wall_time.get('lr_find', 0.0))}" if settings.lr_find["enabled"] else "")
        + ".",
        "",
        "Accuracies in %, mean over the rerun seeds [95% t-interval]; tuned − default is paired by seed, Holm-"
        "corrected over the optimizers, its interval at the level Holm's correction tested it (it excludes 0 exactly "
        "when the verdict says better or worse). Good range: decades of lr whose search trials came within 1 point "
        "of the best completed one, a completed trial by its final validation accuracy, a pruned one by its accuracy "
        "at the rung where it stopped against the best's at that same rung"
        + (f" ({_good_pruned(table)})" if table["good_pruned"].sum() else "") + ". "
        "Search → selection → fresh: the chosen setting's validation accuracy on the search seed, its mean on the "
        "selection seeds, and its mean on the rerun seeds (what choosing on few seeds costs: the winner's curse).",
        "",
        "| optimizer | lr range searched | default lr | tuned lr | trials ok / pruned / diverged / failed | "
        "good range | default val | tuned val | tuned − default | tuned test | search → selection → fresh | "
        "rank default → tuned |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.optimizer} | {_range(row)} | {_lr(row.default_lr)} "
            f"| {_lr(row.tuned_lr)}{' (edge)' if row.at_edge else ''}"
            f"{' (' + row.also_chosen + ')' if row.also_chosen else ''} "
            f"| {row.trials_ok} / {row.trials_pruned} / {row.trials_diverged} / {row.trials_failed} of {row.trials} "
            f"| {_decades(row.good_range_decades)} "
            f"| {_ci(row.default_val_acc, row.default_val_low, row.default_val_high)} "
            f"| {_ci(row.tuned_val_acc, row.tuned_val_low, row.tuned_val_high)} | {_gain(row)} "
            f"| {_ci(row.tuned_test_acc, row.tuned_test_low, row.tuned_test_high)} "
            f"| {_pct(row.search_val_acc)} → {_pct(row.selection_val_acc)} → {_pct(row.tuned_val_acc)} "
            f"| {_rank(row.rank_default)} → {_rank(row.rank_tuned)} |")
    notes = [f"- {row.optimizer}: {row.note}" for row in table.itertuples() if row.note]
    if notes:
        lines += ["", "Not rerun:", *notes]
    edges = [row.optimizer for row in table.itertuples() if row.at_edge]
    if edges:
        lines += ["", f"Still at an edge after widening (chosen lr within {widen['within_decades']:g} decade of an end "
                  f"of the range finally searched): {', '.join(edges)}; their tuned results are lower bounds: raise "
                  "widen.rounds or widen search.lr_ranges.<optimizer> and search again."]
    lines += ["", *render_costs(costs)]
    lines += ["", "Between optimizers (tuned, paired over the same seeds): "
              + (f"[{reports['tuned'].relative_to(out)}]({reports['tuned'].relative_to(out)})" if "tuned" in reports
                 else "no reruns yet")]
    if "default" in reports:
        lines.append(f"At the config defaults: [{reports['default'].relative_to(out)}]"
                     f"({reports['default'].relative_to(out)})")
    if figure is not None:
        lines += ["", f"![validation accuracy against lr]({figure.name})"]
    return "\n".join(lines) + "\n"


def budget_sentences(settings: TuneSettings, table: pd.DataFrame, costs: pd.DataFrame) -> list[str]:
    """What ran, stage by stage, counted from the protocol: the search trials per optimizer (the widened ones
    named), how many completed and how many were pruned, the pruned trials that stood in for selection, the
    selection runs each optimizer had, the reruns."""
    rows = table.set_index("optimizer")
    search = (f"Search: {settings.budget} trials per optimizer on search seed {settings.search_seed} "
              f"(conf/hparams_search/{settings.search}.yaml, seeded TPE, pruner `{settings.pruner}` on validation "
              f"accuracy at {settings.rungs_per_epoch} rung(s) per epoch)")
    widen = settings.widen
    rule = (f"a best lr within {widen['within_decades']:g} decade of an end of its range widens that end by "
            f"{widen['decades']:g} decade with {widen['trials']} more trials, up to {widen['rounds']} times, beside "
            "the budget")
    widened = rows[rows["widened_trials"] > 0]
    if not widen["rounds"]:
        search += ", none widened (widen.rounds=0)"
    elif widened.empty:
        search += f", none widened ({rule})"
    else:
        groups = widened.groupby(["trials", "widened_trials"], sort=True).groups
        search += (f"; {rule}: " + "; ".join(
            f"{_names(list(names))} ran {trials} trials ({extra} widened, {_rounds(extra, widen['trials'])})"
            for (trials, extra), names in groups.items()))
    total = int(rows["trials"].sum())
    search += (f". Of the {total} search trials {int(rows['trials_ok'].sum())} completed, "
               f"{int(rows['trials_pruned'].sum())} were stopped by the pruner, {int(rows['trials_diverged'].sum())} "
               f"diverged and {int(rows['trials_failed'].sum())} failed or could not run (per optimizer: the table).")
    sentences = [search]
    selection = settings.selection
    top_k = selection["top_k"]
    if selection["seeds"]:
        first, *rest = settings.selection_seeds
        runs = costs[costs["stage"] == "selection"].groupby("optimizer", sort=False)["runs"].sum()
        counts: dict[int, list[str]] = {}
        for optimizer in rows.index:
            counts.setdefault(int(runs.get(optimizer, 0)), []).append(optimizer)
        sentences.append(
            f"Selection, a seed at a time: each optimizer's top {top_k} completed trials on selection seed {first}"
            + (f", then on seed{'s' if len(rest) > 1 else ''} {_names([str(seed) for seed in rest])}"
               f"{', one at a time,' if len(rest) > 1 else ''} only those still in contention (mean so far within "
               f"{100 * selection['margin']:g} point of the leader's), until one was left or the seeds were spent, "
               "the best mean of the last round chosen" if rest else ", the best there chosen")
            + "; selection runs: " + "; ".join(f"{n} for {_names(names)}" if n else
                                               f"none for {_names(names)} (no completed search trial)"
                                               for n, names in sorted(counts.items(), reverse=True)) + ".")
        short = rows[(rows["trials_ok"] > 0) & (rows["trials_ok"] < top_k)]
        if not short.empty:
            sentences.append(
                f"Fewer than {top_k} search trials completed for "
                + _names([f"{name} ({row.trials_ok} completed; " + (_stood_in(row.stand_ins) if row.stand_ins else
                                                                     "no pruned trial to stand in") + ")"
                          for name, row in short.iterrows()]) + ".")
    else:
        sentences.append("No selection seeds (selection.seeds=0): each optimizer's best completed trial on the search "
                         "seed chosen.")
    sentences.append(f"Reruns: the chosen setting on fresh seeds {', '.join(map(str, settings.rerun_seeds))}"
                     + (", beside the config default on the same seeds." if settings.defaults_too else "."))
    return sentences


def _good_pruned(table: pd.DataFrame) -> str:
    counted = table[table["good_pruned"] > 0]
    return "pruned trials counted: " + ", ".join(f"{row.optimizer} {row.good_pruned} of {row.good_trials}"
                                                 for row in counted.itertuples())


def _stood_in(count: int) -> str:
    return ("1 pruned trial, the one that got furthest, stood in as a candidate" if count == 1 else
            f"{count} pruned trials, those that got furthest, stood in as candidates")


def _names(names: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _rounds(extra: int, per_round: int) -> str:
    rounds = extra // per_round if per_round else 0
    return f"{rounds} round{'s' if rounds != 1 else ''}"


def render_costs(costs: pd.DataFrame) -> list[str]:
    """What each stage cost over all optimizers (runs, of them pruned and reused from the cache, epochs, the runs'
    wall time summed)."""
    lines = ["What each stage cost (all optimizers; wall time summed over runs, which ran side by side on the "
             "workers; a run reused from the cache (`cache=`) is linked to the finished run it repeats, and trained "
             "nothing here):", "", "| stage | runs | pruned | reused | epochs | run time |",
             "|---|---|---|---|---|---|"]
    for stage, rows in costs.groupby("stage", sort=False):
        lines.append(f"| {stage} | {rows.runs.sum()} | {rows.pruned.sum()} | {rows.reused.sum()} "
                     f"| {rows.epochs.sum():.1f} | {_minutes(rows.wall_s.sum())} |")
    return lines


def _range(row: Any) -> str:
    searched = f"{_lr(row.lr_low)}–{_lr(row.lr_high)}"
    if row.widened_trials and (row.lr_low, row.lr_high) != (row.configured_low, row.configured_high):
        return f"{searched} (from {_lr(row.configured_low)}–{_lr(row.configured_high)}, +{row.widened_trials} trials)"
    return searched


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"
