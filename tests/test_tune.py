"""The tuning protocol: Optuna's search through hparams_search (optlab's sweeper on Optuna >= 4), the one-command
protocol (optlab.tune) with asynchronous workers, pruning, widening and selection seeds, its report, its resume
after a worker is killed, and the learning-rate finder option. Runs use the bundled digits for 2 epochs of 3
batches (debug=tiny): enough for learning rates to matter, fast enough to run whole protocols."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from helpers import (
    CONF,
    HEARTBEAT,
    assert_one_line,
    compose_config,
    killed_at_exit,
    read_summary,
    run_tune,
    runs_with_status,
    wait_until,
    worker_training,
)
from omegaconf.errors import InterpolationResolutionError
from scipy import stats

from optlab.run.summary import RunSummary, Status
from optlab.tune.report.trials import SearchResult, Trial, read_search
from optlab.tune.search.outcome import OBJECTIVE_NAME
from optlab.tune.search.storage import open_storage
from optlab.tune.settings import parse_settings
from optlab.tune.work_queue import STAGES, WorkQueue
from optlab.tune.worker import load_work_queue

DIGITS = ["debug=tiny", "data=digits"]


def summaries_under(folder: Path) -> dict[str, dict]:
    return {p.parent.name: read_summary(p.parent) for p in folder.rglob("summary.json")}


def test_hparams_search_runs_distinct_learning_rates_inside_the_range(tmp_path: Path) -> None:
    """lightning-hydra-template's convention: -m hparams_search=<name> with n_trials."""
    result = subprocess.run(
        [sys.executable, "-m", "optlab.train", "-m", "hparams_search=lr", "optimizer=adam", *DIGITS,
         "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path / 'search'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = summaries_under(tmp_path / "search")
    lrs = [run["lr"] for run in runs.values()]
    assert len(runs) == 4 and len(set(lrs)) == 4
    assert all(1e-5 <= lr <= 1e-2 for lr in lrs)  # adam's range in conf/hparams_search/lr.yaml
    best = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(run["val_acc"] for run in runs.values()))
    study = optuna.load_study(study_name="adam", storage=f"sqlite:///{tmp_path / 'search' / 'optuna.db'}")
    assert sorted(t.params["optimizer.lr"] for t in study.trials) == sorted(lrs)
    assert study.metric_names == [OBJECTIVE_NAME]  # optuna-dashboard's name for it, not "Objective 0"
    assert optuna.__version__ >= "4"


def test_hparams_search_prunes_and_a_second_sweep_continues_its_study(tmp_path: Path) -> None:
    search = tmp_path / "search"
    command = [sys.executable, "-m", "optlab.train", "-m", "hparams_search=lr", "optimizer=adam", *DIGITS,
               "pruner=asha", f"hydra.sweep.dir={search}"]
    first = subprocess.run([*command, "hydra.sweeper.n_trials=4"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    kept = {p: p.stat().st_mtime_ns for p in search.rglob("summary.json")}
    second = subprocess.run([*command, "hydra.sweeper.n_trials=6"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    study = optuna.load_study(study_name="adam", storage=f"sqlite:///{search / 'optuna.db'}")
    assert len(study.trials) == 6 and all(p.stat().st_mtime_ns == m for p, m in kept.items())
    runs = list(summaries_under(search).values())
    pruned = [r for r in runs if r["status"] == "pruned"]
    states = [t.state for t in study.trials]
    assert pruned and states.count(optuna.trial.TrialState.PRUNED) == len(pruned)  # asha stops some after epoch 1
    assert all(r["epochs"] == 1 and "SuccessiveHalvingPruner" in r["reason"] for r in pruned)


@pytest.mark.parametrize("optimizer", sorted(
    str(p.relative_to(CONF / "optimizer").with_suffix("")) for p in (CONF / "optimizer").rglob("*.yaml")
    if p.stem != "any"))
def test_every_config_default_lr_lies_inside_its_three_decade_search_range(optimizer: str, tmp_path: Path) -> None:
    """The equal budget: every shipped optimizer's lr range is three decades wide, its default inside."""
    cfg = compose_config([f"optimizer={optimizer}", "hparams_search=lr"], tmp_path)
    low, high = cfg.search.lr_range
    assert math.log10(high / low) == pytest.approx(3) and low <= cfg.optimizer.lr <= high
    assert f"interval({low}, {high})" in cfg.hydra.sweeper.params["optimizer.lr"]


@pytest.mark.parametrize("optimizer", ["zoo/any", "custom/any"])
def test_an_unlisted_optimizer_without_an_lr_cannot_be_searched(optimizer: str, tmp_path: Path) -> None:
    """Its range is centred on its lr (tests/test_own_optimizer.py): none given, none guessed."""
    cfg = compose_config([f"optimizer={optimizer}", "optimizer.lr=null", "hparams_search=lr"], tmp_path)
    with pytest.raises(InterpolationResolutionError, match="optimizer.lr is null, and the search's range is placed "
                                                            "around it: give the lr your optimizer would use"):
        _ = cfg.search.lr_range[0]


def test_the_search_space_reads_hydras_sweep_syntax() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from optlab.tune.search.space import SearchSpaceError, search_space

    space, fixed = search_space({"optimizer.lr": "tag(log, interval(1e-5, 1e-2))",
                                 "trainer.max_epochs": "range(2,10,2)", "optimizer.momentum": "choice(0.0, 0.9)",
                                 "data.batch_size": "64"})
    assert space == {"optimizer.lr": FloatDistribution(1e-5, 1e-2, log=True),
                     "trainer.max_epochs": IntDistribution(2, 8, step=2),
                     "optimizer.momentum": CategoricalDistribution([0.0, 0.9])}
    assert fixed == ["data.batch_size=64"]
    with pytest.raises(SearchSpaceError, match="hydra.sweeper.params.optimizer.lr=interval"):
        search_space({"optimizer.lr": "interval(1e-5"})


def test_objective_is_validation_accuracy_and_the_worst_value_for_a_run_that_did_not_finish() -> None:
    def summary(status: Status, val_acc: float) -> RunSummary:
        return RunSummary("sgd", "digits", "cifar_net", "none", "32-true", 1, 0.1, status=status, val_acc=val_acc,
                          test_acc=0.99)

    assert summary(Status.OK, 0.8).objective == 0.8
    assert summary(Status.DIVERGED, 0.5).objective == 0.0  # its last validation before it blew up does not count
    assert summary(Status.FAILED, math.nan).objective == 0.0
    assert summary(Status.SKIPPED, math.nan).objective == 0.0
    assert summary(Status.PRUNED, 0.4).objective == 0.0
    assert summary(Status.OK, math.nan).objective == 0.0


def test_search_result_chooses_on_validation_and_measures_the_good_range() -> None:
    trials = [Trial(1e-3, Status.OK, 0.70, ""), Trial(1e-2, Status.OK, 0.85, ""), Trial(3e-2, Status.OK, 0.845, ""),
              Trial(1.0, Status.DIVERGED, 0.0, "loss nan"), Trial(1e-1, Status.OK, 0.80, "")]
    result = SearchResult("sgd", trials)
    assert result.best == trials[1]
    assert result.good_range_decades == pytest.approx(math.log10(3))
    assert result.count(Status.DIVERGED) == 1
    assert not result.at_edge  # no range recorded
    assert SearchResult("sgd", trials, (1e-3, 1e-2)).at_edge and not SearchResult("sgd", trials, (1e-3, 1.0)).at_edge
    assert SearchResult("sgd", trials, (1e-3, 1.0), chosen_number=-1).chosen == trials[0]  # Trial's default number
    nothing = SearchResult("sparseadam", [Trial(1e-3, Status.SKIPPED, 0.0, "dense gradients")])
    assert nothing.best is None and "1 skipped: dense gradients" in nothing.why_none


def test_a_pruned_trial_counts_towards_the_good_range_at_the_rung_where_it_stopped() -> None:
    """Against the best completed trial's accuracy at the same rung (same seed, same steps), not its final one."""
    best = Trial(1e-2, Status.OK, 0.85, "", rungs={1: 0.60, 3: 0.75, 15: 0.85})
    close = Trial(3e-2, Status.PRUNED, 0.0, "", val_acc=0.745, rungs={1: 0.62, 3: 0.745})  # 0.5 behind at rung 3
    behind = Trial(1e-1, Status.PRUNED, 0.0, "", val_acc=0.58, rungs={1: 0.58})  # 2 points behind at rung 1
    early = Trial(1e-3, Status.PRUNED, 0.0, "", val_acc=0.61, rungs={1: 0.61})  # ahead at rung 1: counts
    result = SearchResult("sgd", [best, close, behind, early])
    assert result.good_trials == [best, close, early]
    assert result.good_range_decades == pytest.approx(math.log10(3e-2 / 1e-3))
    # Counted over completed trials only, a search the pruner cut short would look as narrow as one lr.
    assert SearchResult("sgd", [best, behind]).good_range_decades == 0.0
    unreported = Trial(1.0, Status.PRUNED, 0.0, "", val_acc=0.9, rungs={2: 0.9})  # a rung the best has no value at
    assert unreported not in SearchResult("sgd", [best, unreported]).good_trials


def test_tune_runs_the_protocol_and_reports_default_vs_tuned(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    result = run_tune("optimizer=sgd,adam,sparseadam", *DIGITS, "budget=3", "seeds=3", "workers=2", f"out={out}",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"tuning report: {out / 'report' / 'tuning.md'}" in result.stdout
    queue = load_work_queue(out)
    search = read_search(queue, "sgd")
    assert len(search.trials) == 3 + search.widened_trials and search.configured_range == (1e-3, 1.0)
    tuned, default = summaries_under(out / "tuned" / "sgd"), summaries_under(out / "default" / "sgd")
    selection = summaries_under(out / "selection" / "sgd")
    assert sorted(run["seed"] for run in tuned.values()) == [1, 2, 3]  # fresh seeds: not the search's seed 0
    # Selection seeds, neither the search's nor the reruns': 4 first, 5 only for candidates still in contention.
    selection_seeds = {run["seed"] for run in selection.values()}
    assert 4 in selection_seeds and selection_seeds <= {4, 5}
    assert {run["lr"] for run in tuned.values()} == {search.chosen.lr}
    # A completed trial, or a pruned one that stood in (which trials ASHA prunes depends on the workers' timing).
    assert search.chosen.number in search.selection
    assert search.chosen.status == Status.OK or search.chosen.number in search.stand_ins
    assert {run["lr"] for run in default.values()} == {0.01}  # conf/optimizer/sgd.yaml
    assert not (out / "tuned" / "sparseadam").exists()  # every trial skipped: nothing to select or rerun
    report = (out / "report" / "tuning.md").read_text()
    assert f"| sgd | {search.lr_range[0]:.3g}–" in report and f"| {search.chosen.lr:.3g}" in report
    assert "- sparseadam: 3 skipped: SparseAdam" in report and "| search | " in report
    table = (out / "report" / "tuning.csv").read_text().splitlines()
    assert table[0].startswith("optimizer,") and len(table) == 4
    sparseadam = pd.read_csv(out / "report" / "tuning.csv").set_index("optimizer").loc["sparseadam"]
    assert math.isnan(sparseadam.default_val_acc) and math.isnan(sparseadam.rank_default)  # skipped: not a 0%
    for produced in ("tuned/summary.md", "default/summary.md", "lr_sensitivity.png", "costs.csv"):
        assert (out / "report" / produced).is_file(), produced
    assert set(json.loads((out / "tune.json").read_text())["wall_time_s"]) == {"lr_find", "workers"}
    # The per-run records: a row per run folder, the table's numbers recomputed from them, curves for every run.
    runs = pd.read_csv(out / "report" / "runs.csv")
    assert len(runs) == len(list(out.rglob("summary.json"))) and set(runs.stage) == {"search", "selection", "tuned",
                                                                                      "default"}
    tuned_runs = runs[(runs.optimizer == "sgd") & (runs.stage == "tuned")]  # the table's numbers: at the end
    assert tuned_runs.identity.str.len().eq(16).all() and tuned_runs.identity.nunique() == 3  # three seeds
    curves = pd.read_csv(out / "report" / "curves.csv")
    trained = runs[runs.status.isin(["ok", "pruned"])]  # a diverged run has curves up to where it stopped, or none
    assert set(trained.folder) <= set(curves.folder) <= set(runs.folder)
    assert curves.groupby("folder").val_acc.count().min() >= 1
    # Two workers: every run ran once, in a folder of its own.
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if any(f": {status}, " in line for status in ("ok", "pruned", "skipped", "diverged"))]
    done = [line.split(": ")[0] for line in lines]
    assert len(done) == len(set(done)) == len(list(out.rglob("summary.json")))
    assert all(line.startswith(("search ", "selection ", "tuned ", "default ")) for line in lines), lines[:3]
    assert_the_budget_sentence_says_what_ran(report, {o: read_search(queue, o) for o in ("sgd", "adam", "sparseadam")},
                                             out)
    assert_the_tuning_table_follows_from_the_runs(pd.read_csv(out / "report" / "tuning.csv").set_index("optimizer"),
                                                  runs)


def assert_the_budget_sentence_says_what_ran(report: str, searches: dict[str, SearchResult], out: Path) -> None:
    """The report's first paragraph counts what the protocol ran: search trials (widened ones named), how many
    completed and were pruned, the pruned ones that stood in, each optimizer's selection runs."""
    budget = report.split("\n")[2]
    assert budget.startswith("Search: 3 trials per optimizer on search seed 0 ")
    count = {status: sum(s.count(status) for s in searches.values()) for status in Status}
    assert (f"Of the {sum(len(s.trials) for s in searches.values())} search trials {count[Status.OK]} completed, "
            f"{count[Status.PRUNED]} were stopped by the pruner, {count[Status.DIVERGED]} diverged and "
            f"{count[Status.FAILED] + count[Status.SKIPPED]} failed or could not run") in budget
    for optimizer, search in searches.items():
        if search.widened_trials:
            assert f"ran {len(search.trials)} trials ({search.widened_trials} widened" in budget, optimizer
        if 0 < search.count(Status.OK) < 3:
            assert f"{optimizer} ({search.count(Status.OK)} completed; " in budget, optimizer
            assert ("no pruned trial to stand in" if not search.stand_ins else
                    f"{len(search.stand_ins)} pruned trial") in budget.split(f"{optimizer} (")[-1], optimizer
    if not any(s.widened_trials for s in searches.values()):
        assert ", none widened (" in budget
    # "selection runs: 6 for adam; 3 for sgd; none for sparseadam (...)": each as many as its selection folders.
    said = budget.split("selection runs: ")[1].split(".")[0]
    stated = {}
    for part in said.split("; "):
        number, names = part.split(" for ")
        for name in names.split(" (")[0].replace(" and ", ", ").split(", "):
            stated[name] = 0 if number == "none" else int(number)
    assert stated == {o: len(summaries_under(out / "selection" / o)) for o in searches}
    assert "a seed at a time" in budget


def assert_the_tuning_table_follows_from_the_runs(table: pd.DataFrame, runs: pd.DataFrame) -> None:
    """tuning.csv's tuned test accuracy, tuned − default (its interval, paired t-test, Holm over the optimizers) and
    the ranks before and after tuning, recomputed from runs.csv: a run that did not finish scores 0, a skipped one
    is left out."""
    def per_seed(optimizer: str, stage: str, metric: str) -> dict[int, float]:
        rows = runs[(runs.optimizer == optimizer) & (runs.stage == stage) & (runs.status != "skipped")]
        return {int(r.seed): getattr(r, metric) if r.status == "ok" else 0.0 for r in rows.itertuples()}

    def t_interval(values: list[float], within: tuple[float, float], level: float = 0.95) -> tuple[float, float]:
        half = stats.t.ppf((1 + level) / 2, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
        return max(np.mean(values) - half, within[0]), min(np.mean(values) + half, within[1])

    p_values, tuned_val, default_val, gains = {}, {}, {}, {}
    for optimizer in table.index:
        tuned, default = per_seed(optimizer, "tuned", "val_acc"), per_seed(optimizer, "default", "val_acc")
        tuned_val[optimizer] = np.mean(list(tuned.values())) if tuned else math.nan
        default_val[optimizer] = np.mean(list(default.values())) if default else math.nan
        row = table.loc[optimizer]
        assert row.tuned_val_acc == pytest.approx(tuned_val[optimizer], nan_ok=True)
        assert row.default_val_acc == pytest.approx(default_val[optimizer], nan_ok=True)
        if not tuned:
            assert math.isnan(row.tuned_test_acc) and math.isnan(row.gain), optimizer
            continue
        test = list(per_seed(optimizer, "tuned", "test_acc").values())
        assert row.tuned_test_acc == pytest.approx(np.mean(test))
        assert (row.tuned_test_low, row.tuned_test_high) == pytest.approx(t_interval(test, (0.0, 1.0)))
        seeds = sorted(set(tuned) & set(default))
        assert len(seeds) == 3, optimizer
        differences = [tuned[s] - default[s] for s in seeds]
        base = np.mean([default[s] for s in seeds])
        assert row.gain == pytest.approx(np.mean(differences))
        gains[optimizer] = (differences, (-base, 1 - base))
        p_values[optimizer] = stats.ttest_rel([tuned[s] for s in seeds], [default[s] for s in seeds]).pvalue
        assert row.gain_p == pytest.approx(p_values[optimizer])
    # Holm (1979) by hand: the i-th smallest of m p-values times (m - i), running maximum, capped at 1.
    ordered, running = sorted(p_values, key=p_values.get), 0.0
    for i, optimizer in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - i) * p_values[optimizer]))
        assert table.loc[optimizer, "gain_p_holm"] == pytest.approx(running), optimizer
        # The gain's interval at the level Holm tested it (1 - 0.05 p / p_Holm): it excludes 0 exactly when separated.
        level = 1 - 0.05 * p_values[optimizer] / running
        low, high = table.loc[optimizer, "gain_low"], table.loc[optimizer, "gain_high"]
        assert (low, high) == pytest.approx(t_interval(*gains[optimizer], level)), optimizer
        assert (low > 0 or high < 0) == (running < 0.05), optimizer
    smallest = p_values[ordered[0]]
    assert len(ordered) == 2 and 0 < smallest < 1 and table.loc[ordered[0], "gain_p_holm"] != pytest.approx(smallest)
    assert math.isnan(table.loc["sparseadam", "gain_p_holm"])  # untested: not counted in the family
    # Ranks: 1 + how many others lie more than 1e-6 above (a float tie shares a rank); none for a skipped optimizer.
    for column, means in (("rank_tuned", tuned_val), ("rank_default", default_val)):
        for optimizer, value in means.items():
            expected = 1 + sum(other > value + 1e-6 for other in means.values() if math.isfinite(other))
            assert (math.isnan(table.loc[optimizer, column]) if math.isnan(value)
                    else table.loc[optimizer, column] == expected), (column, optimizer)


def test_a_worker_killed_mid_trial_is_started_again_its_trial_retried_and_no_finished_run_repeated(tmp_path: Path
                                                                                                     ) -> None:
    out = tmp_path / "tune"
    args = ["optimizer=adam", *DIGITS, "trainer.max_epochs=12", "budget=4", "seeds=1", "defaults_too=false",
            "selection.seeds=0", "widen.rounds=0", "pruner=none", "workers=2", *HEARTBEAT, "supervisor.delay_s=1",
            f"out={out}"]
    process = subprocess.Popen([sys.executable, "-m", "optlab.tune", *args], cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def runs(status: str) -> list[Path]:
        return runs_with_status(out / "search", status)

    with killed_at_exit(process):
        worker = wait_until(lambda: runs("ok") and worker_training(out), 300,
                            "a worker mid-trial after a finished trial")
        before = {p: (p / "summary.json").stat().st_mtime_ns for p in runs("ok")}
        os.kill(worker, signal.SIGKILL)  # one worker, mid-trial: no clean-up, its trial left RUNNING
        _, stderr = process.communicate(timeout=600)  # the other goes on; the killed one is started again
    assert process.returncode == 0, stderr[-3000:]
    assert "was killed by SIGKILL; starting it again in 1 s" in stderr, stderr[-3000:]
    for folder, mtime in before.items():
        assert (folder / "summary.json").stat().st_mtime_ns == mtime, folder  # finished: not run again
    folders = sorted(p for p in (out / "search" / "adam").iterdir() if p.is_dir())
    assert len(folders) == 4 and all(read_summary(f)["status"] == "ok" for f in folders)
    assert any("resume: continuing from" in (f / "train.log").read_text() for f in folders)  # from its checkpoint
    queue = load_work_queue(out)
    study = queue.study("adam", "search")
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    retries = [t for t in study.trials if "failed_trial" in t.system_attrs]
    assert failed and {t.system_attrs["failed_trial"] for t in retries} >= {t.number for t in failed}
    assert len(queue.search_trials("adam")) == 4  # a retry replaces its failed trial in the budget
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in queue.search_trials("adam"))
    assert (out / "report" / "tuning.md").is_file()


def test_a_worker_that_keeps_dying_stops_the_protocol_in_one_line(tmp_path: Path) -> None:
    """A worker killed at every start (as the out-of-memory killer would) is started again supervisor.restarts
    times, then the protocol stops, saying which worker, how it died and how to continue."""
    out = tmp_path / "tune"
    args = ["optimizer=adam", *DIGITS, "budget=2", "seeds=1", "defaults_too=false", "selection.seeds=0",
            "widen.rounds=0", "pruner=none", "supervisor.restarts=1", "supervisor.delay_s=0", f"out={out}"]
    process = subprocess.Popen([sys.executable, "-m", "optlab.tune", *args], cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed: set[int] = set()

    def a_new_worker() -> int | None:
        pids = subprocess.run(["pgrep", "-f", f"hydra.sweep.dir={out.resolve()}/workers/"], capture_output=True,
                              text=True).stdout.split()
        return next((int(pid) for pid in pids if int(pid) not in killed), None)

    with killed_at_exit(process):
        for _ in range(2):  # its first start and its one restart, each before it finishes a run
            worker = wait_until(a_new_worker, 120, "a worker starting")
            os.kill(worker, signal.SIGKILL)
            killed.add(worker)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr[-3000:]
    assert "Traceback" not in stderr and "worker 0 was killed by SIGKILL; starting it again in 0 s" in stderr, stderr
    assert stderr.splitlines()[-1] == (
        "optlab.tune: worker 0 died 2 times in a row with no run finished in between (supervisor.restarts=1), and "
        f"was killed by SIGKILL the last time; fix what stops it, then continue with resume=true out={out}")
    assert not list(out.rglob("summary.json"))


def test_sigterm_stops_the_workers_records_the_wall_time_and_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    args = ["optimizer=adam", *DIGITS, "trainer.max_epochs=12", "budget=3", "seeds=1", "defaults_too=false",
            "selection.seeds=0", "widen.rounds=0", "pruner=none", "workers=2", *HEARTBEAT,
            f"out={out}"]  # the stopped trial is retried on resume 20 s after its last beat, not 60
    process = subprocess.Popen([sys.executable, "-m", "optlab.tune", *args], cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with killed_at_exit(process):
        wait_until(lambda: worker_training(out), 300, "a worker mid-trial")
        process.terminate()  # SIGTERM to optlab.tune alone, as `kill` or `timeout` sends it
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and f"interrupted; continue with resume=true out={out}" in stderr, stderr[-2000:]
    # The worker stopped mid-run names the protocol to resume, not its own sweep folder (which would not continue it).
    assert f"its run saved; continue the protocol with resume=true out={out.resolve()}" in stderr, stderr[-2000:]
    assert "hydra.sweep.dir" not in stderr and "hydra.run.dir" not in stderr, stderr[-2000:]
    workers = subprocess.run(["pgrep", "-f", f"hydra.sweep.dir={out.resolve()}/workers/"], capture_output=True)
    assert workers.returncode == 1, "a worker went on after the protocol was stopped"
    assert json.loads((out / "tune.json").read_text())["wall_time_s"]["workers"] > 0

    resumed = run_tune(*args, "resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(runs_with_status(out / "search", "ok")) == 3 and (out / "report" / "tuning.md").is_file()


def test_a_protocol_killed_outright_keeps_its_wall_time_up_to_the_last_heartbeat_interval(tmp_path: Path) -> None:
    """SIGKILL to optlab.tune and its workers (a machine's end, a session cut): nothing runs to record the sitting's
    wall time at its end, so it must be in tune.json already, up to one heartbeat.interval_s (2 s here) and the
    supervisor's 1-s tick."""
    out = tmp_path / "tune"
    args = ["optimizer=adam", *DIGITS, "trainer.max_epochs=12", "budget=3", "seeds=1", "defaults_too=false",
            "selection.seeds=0", "widen.rounds=0", "pruner=none", "workers=2", *HEARTBEAT, f"out={out}"]
    process = subprocess.Popen([sys.executable, "-m", "optlab.tune", *args], cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with killed_at_exit(process):
        wait_until(lambda: worker_training(out), 300, "a worker mid-trial")
        training_seen = time.monotonic()
        time.sleep(8)
        os.killpg(process.pid, signal.SIGKILL)
        killed = time.monotonic()
        process.wait(timeout=60)
    recorded = json.loads((out / "tune.json").read_text())["wall_time_s"]["workers"]
    assert recorded >= killed - training_seen - 2 - 1.5, recorded


def _queue(tmp_path: Path, *args: str) -> WorkQueue:
    settings = parse_settings(["optimizer=sgd", *DIGITS, f"out={tmp_path / 'tune'}", *args])
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", settings.heartbeat)
    queue = WorkQueue(settings, storage, f"sqlite:///{tmp_path / 'optuna.db'}",
                      {"sgd": {"optimizer.lr": "tag(log, interval(0.001, 1.0))"}})
    queue.prepare()
    return queue


def _finish(queue: WorkQueue, stage: str, lr: float, value: float, **attrs: object) -> None:
    study = queue.study("sgd", stage)
    distribution = optuna.distributions.FloatDistribution(1e-6, 1e6, log=True)
    study.add_trial(optuna.create_trial(params={"optimizer.lr": lr}, distributions={"optimizer.lr": distribution},
                                        value=value, user_attrs={"status": "ok", **attrs}))


def _take_all(queue: WorkQueue, stage: str, value: float) -> int:
    """Take and finish every queued run of a stage, as workers would, each scoring `value`; how many."""
    taken = 0
    while (item := queue.next_item()[0]) is not None and item.stage == stage:
        _tell(item, value)
        taken += 1
    return taken


def _tell(item: object, value: float) -> None:
    item.trial.set_user_attr("status", "ok")
    item.study.tell(item.trial, value)


def test_every_study_of_the_protocol_names_its_objective(tmp_path: Path) -> None:
    """optuna-dashboard on the protocol's storage shows the objective's name, not "Objective 0"; read back as the
    dashboard reads it, from the storage."""
    queue = _queue(tmp_path)
    for stage in STAGES:
        study = optuna.load_study(study_name=queue.study_name("sgd", stage), storage=queue.storage_url)
        assert study.metric_names == [OBJECTIVE_NAME] == ["val/acc (final; 0 if diverged, failed or skipped)"]


def test_a_workers_progress_line_names_the_run_and_its_outcome() -> None:
    from types import SimpleNamespace

    from optlab.tune.worker import progress_line

    item = SimpleNamespace(stage="search", optimizer="adam", label="003_adam_lr0.0042")
    summary = RunSummary("adam", "digits", "cifar_net", "none", "32-true", 0, 0.0042, status=Status.PRUNED, epochs=1,
                         val_acc=0.851)
    assert progress_line(item, summary) == "search adam 003_adam_lr0.0042: pruned, val 85.10% after 1 epoch"
    summary.status, summary.epochs = Status.OK, 5
    assert progress_line(item, summary).endswith("ok, val 85.10% after 5 epochs")
    summary.status, summary.reason = Status.DIVERGED, "loss is nan at step 12"
    assert progress_line(item, summary).endswith(": diverged, loss is nan at step 12")
    assert progress_line(item, None).endswith(": failed")


def test_a_best_lr_at_an_edge_widens_that_end_by_the_same_rule_until_the_rounds_are_spent(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "budget=3", "defaults_too=false", "selection.seeds=0")
    for lr, value in ((0.01, 0.5), (0.1, 0.7), (0.9, 0.8)):  # the best within 0.25 decade of the top (1.0)
        _finish(queue, "search", lr, value)
    item, done = queue.next_item()
    assert not done and item.stage == "search" and item.trial.params["optimizer.lr"] == pytest.approx(10 ** 0.25)
    study = queue.study("sgd", "search")
    assert queue.search_range("sgd") == pytest.approx((1e-3, 10.0)) and queue.widened_trials("sgd") == 4
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    waiting = sorted(t.system_attrs["fixed_params"]["optimizer.lr"] for t in queued)
    assert waiting == pytest.approx([10 ** 0.5, 10 ** 0.75, 10.0])
    _tell(item, 0.1)
    for _ in range(3):  # the top one best again: a second round, then no more (widen.rounds=2)
        item, _ = queue.next_item()
        _tell(item, 0.9 if item.trial.params["optimizer.lr"] == pytest.approx(10.0) else 0.1)
    assert _take_all(queue, "search", 0.1) == 4 and len(queue.widenings("sgd")) == 2
    assert queue.search_range("sgd") == pytest.approx((1e-3, 100.0))
    result = read_search(queue, "sgd")
    assert result.widened_trials == 8 and len(result.trials) == 11
    assert sum(t.widened for t in result.trials) == 8  # each trial knows it: lr_sensitivity.png marks them
    assert result.chosen.lr == pytest.approx(10.0) and not result.at_edge  # 1 decade below the widened top


def test_selection_goes_a_seed_at_a_time_and_only_candidates_in_contention_run_the_next(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "budget=4", "seeds=3", "defaults_too=false", "selection.top_k=3",
                   "selection.seeds=2", "selection.margin=0.01", "widen.rounds=0")
    for lr, value in ((0.05, 0.90), (0.02, 0.88), (0.01, 0.70), (0.3, 0.85)):
        _finish(queue, "search", lr, value)
    # The search's best (0.05) was lucky on seed 0: on selection seed 4 it trails by 7 points and stops there; 0.3
    # trails by 0.5 point, within the margin, and runs seed 5 beside the leader.
    scores = {("optimizer.lr=0.05", 4): 0.80, ("optimizer.lr=0.02", 4): 0.87, ("optimizer.lr=0.3", 4): 0.865,
              ("optimizer.lr=0.02", 5): 0.86, ("optimizer.lr=0.3", 5): 0.85}
    taken = []
    while (item := queue.next_item()[0]) is not None and item.stage == "selection":
        key = (item.trial.user_attrs["overrides"][0], item.trial.user_attrs["seed"])
        taken.append(key)
        assert "test=false" in item.overrides  # a candidate is judged on validation: its test set is not evaluated
        item.study.tell(item.trial, scores[key])
    assert taken[:3] == [("optimizer.lr=0.05", 4), ("optimizer.lr=0.02", 4), ("optimizer.lr=0.3", 4)]
    assert sorted(taken[3:]) == [("optimizer.lr=0.02", 5), ("optimizer.lr=0.3", 5)]  # after rerun seeds 1-3
    assert item.stage == "tuned" and item.trial.user_attrs["overrides"] == ["optimizer.lr=0.02"]
    assert item.trial.user_attrs["seed"] == 1 and "test=false" not in item.overrides
    result = read_search(queue, "sgd")
    assert result.chosen.lr == 0.02 and result.selection_score(result.chosen) == pytest.approx(0.865)
    assert result.selection_score(next(t for t in result.trials if t.lr == 0.05)) == pytest.approx(0.80)


def test_selection_stops_when_one_candidate_is_left_in_contention(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "budget=3", "seeds=1", "defaults_too=false", "selection.top_k=2",
                   "selection.seeds=3", "widen.rounds=0")
    for lr, value in ((0.05, 0.90), (0.02, 0.88), (0.01, 0.70)):
        _finish(queue, "search", lr, value)
    taken, item = _take_all_scored(queue, {"optimizer.lr=0.05": 0.80, "optimizer.lr=0.02": 0.87})
    assert taken == 2  # seed 2 only: then 0.05 trails by 7 points, and 0.02 is left alone
    assert item.stage == "tuned" and item.trial.user_attrs["overrides"] == ["optimizer.lr=0.02"]


def test_pruned_trials_that_got_furthest_stand_in_when_fewer_than_top_k_finished(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "budget=4", "seeds=1", "defaults_too=false", "selection.top_k=3",
                   "selection.seeds=1", "widen.rounds=0")
    _finish(queue, "search", 0.05, 0.90)
    for lr, steps in ((0.02, {1: 0.6, 3: 0.8}), (0.01, {1: 0.7}), (0.3, {1: 0.5, 3: 0.85})):
        _prune(queue, lr, steps)
    taken, _ = _take_all_scored(queue, {"optimizer.lr=0.05": 0.8, "optimizer.lr=0.3": 0.8, "optimizer.lr=0.02": 0.8})
    assert taken == 3
    result = read_search(queue, "sgd")
    assert sorted(result.trials[n].lr for n in result.stand_ins) == [0.02, 0.3]  # rung 3 beats rung 1's 0.7
    assert result.search_score(next(t for t in result.trials if t.lr == 0.3)) == pytest.approx(0.85)


def test_search_trials_are_cut_at_the_first_rung_a_third_of_an_epoch_in(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    result = run_tune("optimizer=adam", *DIGITS, "budget=6", "seeds=1", "defaults_too=false", "selection.seeds=0",
                      "widen.rounds=0", "pruner=asha", "rungs_per_epoch=3", f"out={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = load_work_queue(out).search_trials("adam")
    first_cut = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED and set(t.intermediate_values) == {1}]
    assert first_cut, [(t.state, t.intermediate_values) for t in trials]
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert finished and all(set(t.intermediate_values) == set(range(1, 7)) for t in finished)  # 3 rungs x 2 epochs
    pruned_run = read_summary(out / "search" / "adam" / f"{first_cut[0].number:03d}_adam_lr"
                              f"{first_cut[0].params['optimizer.lr']:.3g}")
    # 1,200 digits at batch 64: 19 steps an epoch, validated every int(19 / 3) = 6: the cut after 6 of 19 steps.
    assert (pruned_run["steps"], pruned_run["steps_per_epoch"], pruned_run["epochs"]) == (6, 19, 0)
    assert first_cut[0].user_attrs["epochs"] == pytest.approx(6 / 19, abs=1e-4)
    assert "after 0.33 epochs is behind" in pruned_run["reason"] and ": pruned, val " in result.stderr + result.stdout


def test_a_protocol_drawing_on_a_finished_one_links_its_runs_and_runs_only_what_is_new(tmp_path: Path) -> None:
    args = [*DIGITS, "budget=2", "seeds=2", "selection.seeds=0", "widen.rounds=0", "pruner=none"]
    first = tmp_path / "first"
    assert run_tune("optimizer=sgd", *args, f"out={first}", cwd=tmp_path).returncode == 0
    changed = first / "default" / "sgd" / "seed2" / "summary.json"  # as if run by another torch
    record = json.loads(changed.read_text())
    record["identity"]["versions"]["torch"] = "0.0"
    changed.write_text(json.dumps(record))

    second = tmp_path / "second"
    result = run_tune("optimizer=sgd,adam", *args, f"out={second}", f"cache=[{first}]", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    linked = second / "default" / "sgd" / "seed1"
    assert linked.is_symlink() and linked.resolve() == (first / "default" / "sgd" / "seed1").resolve()
    # The search ran again (never drawn from the cache), chose as before, so the tuned reruns were the same runs.
    assert all((second / "tuned" / "sgd" / seed).is_symlink() for seed in ("seed1", "seed2"))
    assert not (second / "default" / "sgd" / "seed2").is_symlink()
    assert f"ran the same config with torch 0.0 (now {version('torch')})" in result.stderr + result.stdout
    assert not any(p.is_symlink() for p in (second / "default" / "adam").iterdir())  # new: trained here
    costs = pd.read_csv(second / "report" / "costs.csv").set_index(["optimizer", "stage"])
    assert (costs.loc[("sgd", "default"), "reused"], costs.loc[("sgd", "tuned"), "reused"]) == (1, 2)
    assert costs.loc[("sgd", "tuned"), "epochs"] == 0 and costs.loc[("adam", "default"), "reused"] == 0
    before = pd.read_csv(first / "report" / "tuning.csv").set_index("optimizer").loc["sgd"]
    after = pd.read_csv(second / "report" / "tuning.csv").set_index("optimizer").loc["sgd"]
    assert after.tuned_val_acc == before.tuned_val_acc and after.default_val_acc == before.default_val_acc
    assert "| reused |" in (second / "report" / "tuning.md").read_text()


def test_a_run_that_skipped_its_test_serves_only_runs_that_skip_theirs(tmp_path: Path) -> None:
    from optlab.tune.run_cache import RunCache

    identity = {"config": "c0ffee", "seed": 6, "versions": {"optlab": "1", "torch": "2"}, "device": "cpu"}
    untested = tmp_path / "selection" / "sgd" / "trial000_seed6"  # a selection run of another protocol
    untested.mkdir(parents=True)
    run = ("sgd", "digits", "tiny_net", "none", "32-true", 6, 0.1)
    RunSummary(*run, status=Status.OK, val_acc=0.9, identity=identity).write(untested)
    cache = RunCache([tmp_path])
    assert cache.lookup(identity, tested=False).folder == untested
    refused = cache.lookup(identity, tested=True)  # a tuned rerun on seed 6 must report its test accuracy
    assert refused.folder is None and "no test result (this run asks for one)" in refused.why_not
    tested = tmp_path / "tuned" / "sgd" / "seed6"
    tested.mkdir(parents=True)
    RunSummary(*run, status=Status.OK, val_acc=0.9, test_acc=0.89, identity=identity).write(tested)
    assert RunCache([tmp_path]).lookup(identity, tested=True).folder == tested


def test_a_tuned_rerun_never_reuses_another_protocols_untested_selection_run(tmp_path: Path) -> None:
    args = [*DIGITS, "optimizer=sgd", "budget=2", "widen.rounds=0", "pruner=none", "defaults_too=false"]
    first = tmp_path / "first"  # both search trials are candidates, run on selection seed 2 without a test
    result = run_tune(*args, "seeds=1", "selection.top_k=2", "selection.seeds=1", f"out={first}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((first / "selection" / "sgd").iterdir())) == 2
    second = tmp_path / "second"  # the same search chooses one of them, and reruns it on seeds 1 and 2
    result = run_tune(*args, "seeds=2", "selection.seeds=0", f"out={second}", f"cache=[{first}]", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rerun = second / "tuned" / "sgd" / "seed2"
    assert not rerun.is_symlink() and math.isfinite(read_summary(rerun)["test_acc"])
    assert "ran the same config with no test result (this run asks for one)" in result.stderr + result.stdout


def test_a_finished_protocol_extended_by_one_optimizer_trains_only_its_runs(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    args = [*DIGITS, "budget=2", "seeds=1", "selection.seeds=0", "widen.rounds=0", f"out={out}"]
    assert run_tune("optimizer=sgd", *args, cwd=tmp_path).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("summary.json")}
    result = run_tune("optimizer=sgd,adam", *args, "resume=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in before.items())
    trained = [line for line in (result.stdout + result.stderr).splitlines() if ": ok, " in line]
    assert trained and all(" adam " in line for line in trained), trained
    assert set(pd.read_csv(out / "report" / "tuning.csv").optimizer) == {"sgd", "adam"}


def test_what_a_worker_killed_while_queueing_left_half_done_is_completed_never_doubled(tmp_path: Path) -> None:
    from optlab.tune.work_queue import enqueue_missing

    queue = _queue(tmp_path, "budget=1", "seeds=3", "defaults_too=false", "selection.seeds=0")
    # A widening round planned (one attribute, written at once) but killed before its trials were queued.
    search = queue.study("sgd", "search")
    search.set_user_attr("widenings", [{"range": [1e-3, 10.0], "lrs": [2.0, 4.0], "params": {}}])
    item = queue.next_item()[0]
    assert item.stage == "search" and item.trial.params["optimizer.lr"] in (2.0, 4.0)
    queue.next_item()
    assert sorted(t.params["optimizer.lr"] for t in search.trials) == [2.0, 4.0]  # each once, none sampled instead
    tuned = queue.study("sgd", "tuned")
    runs = [{"seed": seed, "candidate": 0, "overrides": ["optimizer.lr=0.1"]} for seed in (1, 2, 3)]
    assert enqueue_missing(tuned, runs[:1])  # killed after the first of three
    assert enqueue_missing(tuned, runs) and not enqueue_missing(tuned, runs)
    assert sorted(t.user_attrs["seed"] for t in tuned.trials) == [1, 2, 3]


def _prune(queue: WorkQueue, lr: float, steps: dict[int, float]) -> None:
    distribution = optuna.distributions.FloatDistribution(1e-6, 1e6, log=True)
    queue.study("sgd", "search").add_trial(optuna.create_trial(
        params={"optimizer.lr": lr}, distributions={"optimizer.lr": distribution}, intermediate_values=steps,
        state=optuna.trial.TrialState.PRUNED, user_attrs={"status": "pruned", "val_acc": steps[max(steps)]}))


def _take_all_scored(queue: WorkQueue, scores: dict[str, float]) -> tuple[int, object]:
    """Take and finish every queued selection run, each scoring its setting's value; how many, and the next item."""
    taken = 0
    while (item := queue.next_item()[0]) is not None and item.stage == "selection":
        _tell(item, scores[item.trial.user_attrs["overrides"][0]])
        taken += 1
    return taken, item


def test_the_search_never_takes_more_than_its_budget_while_trials_run(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "budget=2", "defaults_too=false")
    first, second = queue.next_item()[0], queue.next_item()[0]
    assert first.stage == second.stage == "search" and first.trial.number != second.trial.number
    assert queue.next_item() == (None, False)  # both running: nothing to take, not done


@pytest.mark.parametrize("args, message", [
    pytest.param(["optimizer=sgdd"], "optimizer=sgdd is not in conf/optimizer/", id="unknown-optimizer"),
    pytest.param(["resume=true"], "resume=true continues a protocol's folder: name it with out=<folder>",
                 id="resume-without-out"),
    pytest.param(["out={tmp}/busy"], "already holds a protocol; continue it with resume=true", id="out-holds-one"),
    pytest.param(["budget=0"], "budget, seeds and workers must be at least 1", id="budget-0"),
    pytest.param(["workers=0"], "budget, seeds and workers must be at least 1", id="workers-0"),
    pytest.param(["selection.top_k=-1"], "selection.top_k=-1 must be at least 1", id="top-k-negative"),
    pytest.param(["pruner=fast"], "Could not find 'pruner/fast'", id="unknown-pruner"),
    pytest.param(["heartbeat.grace_s=1"], "heartbeat: 0 < interval_s (10) < grace_s (1)", id="grace-below-interval"),
    pytest.param(["storage=sqlite:///{tmp}/no/such/folder/x.db", "out={tmp}/new"],
                 "the Optuna storage sqlite:///{tmp}/no/such/folder/x.db cannot be opened", id="storage-unopenable"),
    pytest.param(["search=grid"], "search=grid is not in conf/hparams_search/", id="unknown-search"),
    pytest.param(["experiment=fashion_mnist_zoo"], "brings a sweep of its own (hydra.sweeper.params: optimizer, seed)",
                 id="experiment-with-a-sweep"),
    pytest.param(["trainer.max_epoch=3"], "Could not override 'trainer.max_epoch'", id="unknown-key"),
    pytest.param(["optimizer=sgd,adam", "optimizer.momentum=0.9"], "optimizer.momentum=0.9 would reach every "
                 "optimizer of optimizer=sgd,adam", id="optimizer-key-for-several"),
])
def test_tune_refuses_what_it_cannot_run_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    """Each refusal a case of its own: one that regresses does not hide the others. {tmp} stands for tmp_path,
    which the cases cannot name when they are collected."""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "tune.json").write_text("{}")
    result = run_tune(*(arg.format(tmp=tmp_path) for arg in args), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert_one_line(result.stderr, message.format(tmp=tmp_path))


def test_resume_refuses_another_protocol_in_the_same_folder(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    out.mkdir()
    recorded = parse_settings(["optimizer=sgd", *DIGITS, "budget=1", f"out={out}"]).protocol()
    (out / "tune.json").write_text(json.dumps({"protocol": recorded, "wall_time_s": {}}))
    changed = run_tune("optimizer=sgd", *DIGITS, "budget=2", f"out={out}", "resume=true", cwd=tmp_path)
    assert changed.returncode == 2 and "holds another protocol (budget: 1 -> 2)" in changed.stderr
    assert not (out / "search").exists()


def test_a_shared_study_of_another_protocol_is_refused_before_any_run(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first = run_tune("optimizer=sgd", *DIGITS, "budget=1", "seeds=1", "defaults_too=false", "selection.seeds=0",
                     f"storage={storage}", f"out={tmp_path / 'a'}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    other = run_tune("optimizer=sgd", *DIGITS, "budget=2", "seeds=1", "defaults_too=false", "selection.seeds=0",
                     f"storage={storage}", f"out={tmp_path / 'b'}", cwd=tmp_path)
    assert other.returncode == 2
    assert_one_line(other.stderr, "the study tune/sgd/search holds another protocol (budget: 1 -> 2)")
    assert not (tmp_path / "b" / "search").exists()


def test_lr_find_seeds_the_range_of_a_search_that_also_tunes_weight_decay(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    result = run_tune("optimizer=adamw", *DIGITS, "search=lr_wd", "budget=2", "seeds=1", "defaults_too=false",
                      "selection.seeds=0", "widen.rounds=0", "lr_find.enabled=true", "lr_find.steps=20", f"out={out}",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads((out / "search" / "adamw" / "lr_find" / "lr_find.json").read_text())
    assert len(found["lr"]) == len(found["loss"]) > 0
    assert (out / "search" / "adamw" / "lr_find" / "lr_find.png").is_file()
    search = read_search(load_work_queue(out), "adamw")
    low, high = search.lr_range
    assert low == pytest.approx(found["suggestion"] / 30) and high == pytest.approx(found["suggestion"] * 30)
    assert all(low <= t.lr <= high for t in search.trials)
    assert all(set(t.params) == {"optimizer.lr", "optimizer.weight_decay"} for t in search.trials)
    (rerun,) = summaries_under(out / "tuned").values()  # both chosen settings repeated, exactly
    assert rerun["lr"] == search.best.lr
    assert rerun["config"]["optimizer.weight_decay"] == search.best.params["optimizer.weight_decay"]
    assert "weight_decay=" in (out / "report" / "tuning.md").read_text()
