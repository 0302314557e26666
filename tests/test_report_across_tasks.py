"""A report over runs of several tasks: one report per task, and performance profiles and a critical-difference
diagram over all of them (optlab.report.across_tasks)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, compose_config

from optlab.report.across_tasks import profiles
from optlab.run.job import train

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
    """sgd, adam, lion x seeds 1-3 on digits and on synthetic data: two tasks, 6 blocks."""
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
    result = subprocess.run([sys.executable, "-m", "optlab.report", str(two_tasks / "digits_sweep"),
                             str(two_tasks / "synthetic_sweep"), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for task in ("digits", "synthetic"):  # each task its own report, compared within itself
        table = pd.read_csv(out / task / "summary.csv")
        assert sorted(table["group"]) == ["adam", "lion", "sgd"] and (table["runs"] == 3).all()
        assert (out / task / "comparison.png").read_bytes().startswith(PNG)
    for figure in ("performance_profiles.png", "critical_difference.png"):
        assert (out / figure).read_bytes().startswith(PNG) and (out / figure).stat().st_size > 10_000
    across = pd.read_csv(out / "summary.csv").set_index("group")
    assert sorted(across.index) == ["adam", "lion", "sgd"]
    assert across["score: test error"].between(0, 1).all() and across["score: test error"].max() > 0
    # Mean rank over 6 blocks of 3 groups: the ranks of each block sum to 6, so the means sum to 6 too.
    assert across["mean rank"].sum() == pytest.approx(6.0) and across["mean rank"].between(1, 3).all()
    for task in ("digits", "synthetic"):
        digits = pd.read_csv(out / task / "summary.csv").set_index("group")["test_acc"]
        assert np.allclose(across[task].sort_index(), digits.sort_index())
    text = (out / "summary.md").read_text()
    assert text.startswith("# 2 tasks: digits, synthetic") and "Average ranks over 6 blocks" in text
    best = across["mean rank"].idxmin()
    assert f"best {best} ({across.loc[best, 'mean rank']:.2f})" in text and result.stdout.count("\n") == 2
    assert "[digits](digits/summary.md)" in text and "![critical_difference](critical_difference.png)" in text


def test_too_few_blocks_for_ranks_is_said_not_drawn(two_tasks: Path, tmp_path: Path) -> None:
    """Seed 1 only: 2 blocks, below autorank's 5; the report says so and still draws the profiles."""
    from optlab.report.write import ReportOptions, write_report

    seed_one = [two_tasks / f"{data}_sweep" / f"{optimizer}_1" for data in ("digits", "synthetic")
                for optimizer in ("sgd", "adam", "lion")]
    outputs = write_report(seed_one, tmp_path, ReportOptions())
    assert [p.name for p in outputs.figures] == ["performance_profiles.png"]
    assert "No critical-difference diagram: it needs at least 5 blocks (task x seed) and 3 groups; these runs give 2" \
        in outputs.markdown.read_text()


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
