"""The tuning protocol: Optuna's search through hparams_search, the one-command protocol (optlab.tune), its report,
its resume after a kill, and the learning-rate finder option. Runs use the bundled digits for 2 epochs of 3
batches (debug=tiny): enough for learning rates to matter, fast enough to run whole protocols."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import CONF, compose_config

from optlab.summary import RunSummary, Status
from optlab.tune.settings import parse_settings
from optlab.tune.trials import SearchResult, Trial, read_search

DIGITS = ["debug=tiny", "data=digits"]


def run_tune(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optlab.tune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def summaries_under(folder: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in folder.rglob("summary.json")}


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


@pytest.mark.parametrize("optimizer", sorted(
    str(p.relative_to(CONF / "optimizer").with_suffix("")) for p in (CONF / "optimizer").rglob("*.yaml")))
def test_every_config_default_lr_lies_inside_its_search_range(optimizer: str, tmp_path: Path) -> None:
    import optlab.train  # noqa: F401  (registers the resolvers the search config uses)

    cfg = compose_config([f"optimizer={optimizer}", "hparams_search=lr"], tmp_path)
    low, high = cfg.search.lr_range
    assert 0 < low < high and math.log10(high / low) <= 5
    if cfg.optimizer.lr is not None:  # zoo/any: the library's own default, its range the table's widest
        assert low <= cfg.optimizer.lr <= high
    assert f"interval({low}, {high})" in cfg.hydra.sweeper.params["optimizer.lr"]


def test_objective_is_validation_accuracy_and_the_worst_value_for_a_run_that_did_not_finish() -> None:
    def summary(status: Status, val_acc: float) -> RunSummary:
        return RunSummary("sgd", "digits", "cifar_net", "none", "32-true", 1, 0.1, status=status, val_acc=val_acc,
                          test_acc=0.99)

    assert summary(Status.OK, 0.8).objective == 0.8
    assert summary(Status.DIVERGED, 0.5).objective == 0.0  # its last validation before it blew up does not count
    assert summary(Status.FAILED, math.nan).objective == 0.0
    assert summary(Status.SKIPPED, math.nan).objective == 0.0
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
    nothing = SearchResult("sparseadam", [Trial(1e-3, Status.SKIPPED, 0.0, "dense gradients")])
    assert nothing.best is None and "1 skipped: dense gradients" in nothing.why_none


def test_tune_runs_the_protocol_and_reports_default_vs_tuned(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    result = run_tune("optimizer=sgd,sparseadam", *DIGITS, "budget=3", "seeds=2", "jobs=2", f"out={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"tuning report: {out / 'report' / 'tuning.md'}" in result.stdout
    search = read_search(out / "search" / "sgd", "sgd")
    assert len(search.trials) == 3 and search.lr_range == (1e-3, 1.0)
    tuned, default = summaries_under(out / "tuned" / "sgd"), summaries_under(out / "default" / "sgd")
    assert sorted(run["seed"] for run in tuned.values()) == [1, 2]  # fresh seeds: not the search's seed 0
    assert {run["lr"] for run in tuned.values()} == {search.best.lr}
    assert {run["lr"] for run in default.values()} == {0.01}  # conf/optimizer/sgd.yaml
    assert not (out / "tuned" / "sparseadam").exists()  # every trial skipped: nothing to rerun
    report = (out / "report" / "tuning.md").read_text()
    assert f"| sgd | 0.001–1 | 0.01 | {search.best.lr:.3g} | 3 / 0 of 3 |" in report
    assert "- sparseadam: 3 skipped: SparseAdam" in report
    table = (out / "report" / "tuning.csv").read_text().splitlines()
    assert table[0].startswith("optimizer,") and len(table) == 3
    for produced in ("tuned/summary.md", "default/summary.md", "lr_sensitivity.png"):
        assert (out / "report" / produced).is_file(), produced
    assert set(json.loads((out / "tune.json").read_text())["wall_time_s"]) == {
        "search sgd", "rerun sgd", "default sgd", "search sparseadam"}


def test_tune_killed_mid_search_resumes_without_repeating_a_finished_trial(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    args = ["optimizer=adam", *DIGITS, "budget=4", "seeds=2", "defaults_too=false", f"out={out}"]
    process = subprocess.Popen([sys.executable, "-m", "optlab.tune", *args], cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finished() -> dict[str, dict]:
        return {name: run for name, run in summaries_under(out / "search").items() if run["status"] == "ok"}

    deadline = time.time() + 300
    while len(finished()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole protocol, its search and the trial running: no clean-up
    process.wait(timeout=60)
    before = {name: (out / "search" / "adam" / name / "summary.json").stat().st_mtime_ns for name in finished()}
    assert 2 <= len(before) < 4 and not (out / "report").exists()

    resumed = run_tune(*args, "resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = sorted(p.name for p in (out / "search" / "adam").iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(trials) == 4 and len(summaries_under(out / "search")) == 4  # the same 4 trials, none twice
    for name, mtime in before.items():
        assert (out / "search" / "adam" / name / "summary.json").stat().st_mtime_ns == mtime, name
    assert (out / "report" / "tuning.md").is_file()


def test_a_trial_resume_refuses_stops_the_protocol_before_any_new_trial(tmp_path: Path) -> None:
    """A finished trial made under another config (here: its recorded validation size) is refused on resume; the search
    must stop there, not let its sampler propose new trials in place of the refused one."""
    out = tmp_path / "tune"
    args = ["optimizer=sgd", *DIGITS, "budget=2", "seeds=1", "defaults_too=false", f"out={out}"]
    assert run_tune(*args, cwd=tmp_path).returncode == 0
    trials = sorted(p.parent for p in (out / "search" / "sgd").rglob("summary.json"))
    changed = trials[0] / "summary.json"
    recorded = json.loads(changed.read_text())
    recorded["config"]["data.val_size"] += 1
    changed.write_text(json.dumps(recorded))
    kept = changed.read_bytes()

    resumed = run_tune(*args, "resume=true", cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr[-3000:]
    assert "holds a ok run with another config" in resumed.stderr and "The sweep stopped" in resumed.stderr
    assert "the search of sgd stopped" in resumed.stderr and "Traceback" not in resumed.stderr
    assert sorted(p.parent for p in (out / "search" / "sgd").rglob("summary.json")) == trials  # no new trial
    assert changed.read_bytes() == kept


def test_tune_refuses_what_it_cannot_run_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "tune.json").write_text("{}")
    cases = {
        ("optimizer=sgdd",): "optimizer=sgdd is not in conf/optimizer/",
        ("resume=true",): "resume=true continues a protocol's folder: name it with out=<folder>",
        (f"out={tmp_path / 'busy'}",): "already holds a protocol; continue it with resume=true",
        ("budget=0",): "budget, seeds and jobs must be at least 1",
        ("search=grid",): "search=grid is not in conf/hparams_search/",
        ("experiment=fashion_mnist_zoo",): "brings a sweep of its own (hydra.sweeper.params: optimizer, seed)",
        ("trainer.max_epoch=3",): "Could not override 'trainer.max_epoch'",
    }
    for args, message in cases.items():
        result = run_tune(*args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_resume_refuses_another_protocol_in_the_same_folder(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    out.mkdir()
    recorded = parse_settings(["optimizer=sgd", *DIGITS, "budget=1", f"out={out}"]).protocol()
    (out / "tune.json").write_text(json.dumps({"protocol": recorded, "wall_time_s": {}}))
    changed = run_tune("optimizer=sgd", *DIGITS, "budget=2", f"out={out}", "resume=true", cwd=tmp_path)
    assert changed.returncode == 2 and "holds another protocol (budget: 1 -> 2)" in changed.stderr
    assert not (out / "search").exists()


def test_lr_find_seeds_the_range_of_a_search_that_also_tunes_weight_decay(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    result = run_tune("optimizer=adamw", *DIGITS, "search=lr_wd", "budget=2", "seeds=1", "defaults_too=false",
                      "lr_find.enabled=true", "lr_find.steps=20", f"out={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads((out / "search" / "adamw" / "lr_find" / "lr_find.json").read_text())
    assert len(found["lr"]) == len(found["loss"]) > 0
    assert (out / "search" / "adamw" / "lr_find" / "lr_find.png").is_file()
    search = read_search(out / "search" / "adamw", "adamw")
    low, high = search.lr_range
    assert low == pytest.approx(found["suggestion"] / 30) and high == pytest.approx(found["suggestion"] * 30)
    assert all(low <= t.lr <= high for t in search.trials)
    assert all(set(t.params) == {"optimizer.lr", "optimizer.weight_decay"} for t in search.trials)
    (rerun,) = summaries_under(out / "tuned").values()  # both chosen settings repeated, exactly
    assert rerun["lr"] == search.best.lr
    assert rerun["config"]["optimizer.weight_decay"] == float(search.best.params["optimizer.weight_decay"])
    assert "weight_decay=" in (out / "report" / "tuning.md").read_text()
