"""A report over runs of several tasks: one report per task, and performance profiles and a critical-difference
diagram over all of them (optlab.report.across_tasks), its blocks tasks (seeds averaged within each), never seeds."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, compose_config

from optlab.report.across_tasks import draw_critical_difference, mean_ranks, profiles, rank_blocks
from optlab.report.runs import Run
from optlab.run.job import train
from optlab.run.summary import RunSummary, Status

PNG = b"\x89PNG\r\n\x1a\n"


def test_profiles_count_the_tasks_within_each_ratio_and_score_the_area() -> None:
    """Two tasks. a: best on both (ratio 1, score 1). b: twice a's error on task 1, best on task 2: half the tasks
    within tau in [1, 2), all from 2 on; area (0.5 * 1 + 1 * 2) / 3. c: never finished task 2: at most half."""
    cost = pd.DataFrame({"a": [0.1, 0.2], "b": [0.2, 0.2], "c": [0.1, math.inf]}, index=["task1", "task2"])
    taus, within, score = profiles(cost)
    assert within["a"].eq(1.0).all()
    assert within["b"][taus < 2 - 1e-9].eq(0.5).all() and within["b"][taus >= 2].eq(1.0).all()
    assert within["c"].eq(0.5).all()
    assert score["a"] == pytest.approx(1.0) and score["c"] == pytest.approx(0.5)
    assert score["b"] == pytest.approx((0.5 * 1 + 1.0 * 2) / 3, abs=0.01)


@pytest.fixture(scope="module")
def two_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sgd, adam, lion x seeds 1-3 on digits and on synthetic data: two tasks, so two blocks."""
    root = tmp_path_factory.mktemp("tasks")
    for data in ("digits", "synthetic"):
        for optimizer in ("sgd", "adam", "lion"):
            for seed in (1, 2, 3):
                folder = root / f"{data}_sweep" / f"{optimizer}_{seed}"
                train(compose_config([*TINY, "trainer.max_epochs=2", f"data={data}", f"optimizer={optimizer}",
                                      f"seed={seed}"], folder))
    return root


def test_a_report_over_two_tasks_draws_profiles_and_ranks(two_tasks: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "critical_difference.png").write_bytes(PNG)  # as an earlier report over five tasks would have left it
    result = subprocess.run([sys.executable, "-m", "optlab.report", str(two_tasks / "digits_sweep"),
                             str(two_tasks / "synthetic_sweep"), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for task in ("digits", "synthetic"):  # each task its own report, compared within itself
        table = pd.read_csv(out / task / "summary.csv")
        assert sorted(table["group"]) == ["adam", "lion", "sgd"] and (table["runs"] == 3).all()
        assert (out / task / "comparison.png").read_bytes().startswith(PNG)
    figure = out / "performance_profiles.png"
    assert figure.read_bytes().startswith(PNG) and figure.stat().st_size > 10_000
    assert not (out / "critical_difference.png").exists()  # 2 tasks: too few blocks for Friedman's test
    across = pd.read_csv(out / "summary.csv").set_index("group")
    assert sorted(across.index) == ["adam", "lion", "sgd"]
    assert across["score: test error"].between(0, 1).all() and across["score: test error"].max() > 0
    # Mean rank over 2 tasks of 3 groups: the ranks within each task sum to 6, so the means sum to 6 too.
    assert across["mean rank"].sum() == pytest.approx(6.0) and across["mean rank"].between(1, 3).all()
    for task in ("digits", "synthetic"):
        digits = pd.read_csv(out / task / "summary.csv").set_index("group")["test_acc"]
        assert np.allclose(across[task].sort_index(), digits.sort_index())
    text = (out / "summary.md").read_text()
    assert text.startswith("# 2 tasks: digits, synthetic") and "Friedman's test p" not in text
    assert "No critical-difference diagram and no Friedman test: its blocks are tasks" in text
    assert "[digits](digits/summary.md)" in text and "critical_difference" not in text
    assert result.stdout.count("\n") == 2


def test_too_few_tasks_for_ranks_is_said_not_drawn(two_tasks: Path, tmp_path: Path) -> None:
    """Seed 1 only of 2 tasks: 2 blocks, below autorank's 5; the report says so and still draws the profiles."""
    from optlab.report.write import ReportOptions, write_report

    seed_one = [two_tasks / f"{data}_sweep" / f"{optimizer}_1" for data in ("digits", "synthetic")
                for optimizer in ("sgd", "adam", "lion")]
    outputs = write_report(seed_one, tmp_path, ReportOptions())
    assert [p.name for p in outputs.figures] == ["performance_profiles.png"]
    assert ("and it needs at least 5 tasks and 3 groups; these runs give 2 and 3. The mean ranks describe these 2 "
            "tasks and test nothing.") in outputs.markdown.read_text()


def test_runs_without_a_test_pass_are_compared_on_validation_accuracy() -> None:
    """test=false: the tables compare on val_acc and have no test accuracy; the profiles use validation error."""
    from optlab.report.across_tasks import common_groups, costs

    table = pd.DataFrame({"group": ["adam", "sgd"], "val_acc": [0.9, 0.8], "test_acc": [math.nan, math.nan],
                          "epochs_to_target": [1.0, math.inf], "compared_on": ["val_acc", "val_acc"]})
    tables = {"digits": table, "mnist": table}
    groups, left_out = common_groups(tables, "val_acc")
    assert groups == ["adam", "sgd"] and left_out == []
    frames = costs(tables, groups, "val_acc")
    assert list(frames) == ["validation error", "epochs to target"]
    assert frames["validation error"].loc["digits"].tolist() == pytest.approx([0.1, 0.2])
    assert frames["epochs to target"].loc["mnist", "sgd"] == math.inf


def run(task: str, group: str, seed: int, test_acc: float, status: Status = Status.OK) -> Run:
    summary = RunSummary(group, task, "cifar_net", "none", "32-true", seed, 0.01, status=status, test_acc=test_acc)
    return Run(Path(f"/runs/{task}/{group}/{seed}"), summary, pd.DataFrame())


def test_a_block_is_a_task_with_its_seeds_averaged() -> None:
    """Three seeds of a task are one block, not three: each group's value is its mean over the seeds every group
    ran (a run that did not finish counts as 0), so two tasks give two blocks whatever the seeds."""
    by_task = {task: {"adam": [run(task, "adam", s, 0.9 + 0.01 * s) for s in (1, 2, 3)],
                      "sgd": [run(task, "sgd", s, 0.8) for s in (1, 2)]
                      + [run(task, "sgd", 3, math.nan, Status.DIVERGED)]} for task in ("digits", "mnist")}
    by_task["mnist"]["sgd"].append(run("mnist", "sgd", 4, 0.99))  # adam has no seed 4: not in the block
    blocks = rank_blocks(by_task, ["adam", "sgd"], "test_acc")
    assert list(blocks.index) == ["digits", "mnist"]
    assert blocks.loc["digits", "adam"] == pytest.approx(0.92) and blocks.loc["mnist", "sgd"] == pytest.approx(1.6 / 3)
    assert mean_ranks(blocks).to_dict() == {"adam": 1.0, "sgd": 2.0}


def test_five_tasks_draw_the_diagram_and_say_what_a_block_is(tmp_path: Path) -> None:
    blocks = pd.DataFrame({"adam": [0.9, 0.8, 0.7, 0.95, 0.6], "sgd": [0.85, 0.75, 0.72, 0.9, 0.55],
                           "lion": [0.8, 0.7, 0.6, 0.85, 0.5]}, index=[f"task{i}" for i in range(5)])
    path, sentence = draw_critical_difference(blocks, tmp_path / "cd.png", "test_acc")
    assert path is not None and path.read_bytes().startswith(PNG)
    assert sentence.startswith("Average ranks over 5 tasks (each task one block, its seeds averaged): lowest mean "
                               "rank adam (1.20). Friedman's test p = ")
