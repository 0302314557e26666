"""A report from tiny real runs: figures, a table whose numbers are the runs' numbers, and every status shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from optlab.report import ReportOptions, write_report
from optlab.report.runs import load_runs
from optlab.job import train

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two folders, as if from two sweeps: sgd and adam x 2 seeds, one diverged sgd, one skipped sparseadam."""
    from conftest import TINY, compose_config

    root = tmp_path_factory.mktemp("runs")
    jobs = {
        "sweep_a/sgd_1": ["optimizer=sgd", "seed=1"], "sweep_a/sgd_2": ["optimizer=sgd", "seed=2"],
        "sweep_a/adam_1": ["optimizer=adam", "seed=1"], "sweep_b/adam_2": ["optimizer=adam", "seed=2"],
        "sweep_b/sgd_huge_lr": ["optimizer=sgd", "seed=3", "optimizer.lr=1000000"],
        "sweep_b/sparseadam": ["optimizer=sparseadam"],
    }
    for folder, overrides in jobs.items():
        train(compose_config([*TINY, "trainer.max_epochs=3", *overrides], root / folder))
    return root


def read(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_report_writes_png_figures_and_tables(runs_root: Path, tmp_path: Path) -> None:
    outputs = write_report([runs_root / "sweep_a", runs_root / "sweep_b"], tmp_path, ReportOptions())
    assert outputs.figure.name == "loss_epoch.png" and len(outputs.figures) == 4
    for figure in outputs.figures:
        assert figure.read_bytes().startswith(PNG) and figure.stat().st_size > 10_000
    assert outputs.table.is_file() and outputs.markdown.read_text().startswith("# synthetic, cifar_net, 3 epochs")


def test_table_numbers_are_the_runs_numbers(runs_root: Path, tmp_path: Path) -> None:
    outputs = write_report([runs_root], tmp_path, ReportOptions(target_acc=0.0))
    table = pd.read_csv(outputs.table).set_index("group")
    adam = [read(runs_root / "sweep_a" / "adam_1"), read(runs_root / "sweep_b" / "adam_2")]
    assert table.loc["adam", "test_acc"] == pytest.approx(sum(r["test_acc"] for r in adam) / 2)
    assert table.loc["adam", "runs"] == 2 and table.loc["adam", "status"] == "2 ok"
    assert table.loc["adam", "optimizer_state_bytes"] == adam[0]["optimizer_state_bytes"]
    # Target 0: every ok run reaches it after its first epoch; the diverged one never does.
    assert table.loc["adam", "epochs_to_target"] == 1.0 and table.loc["sgd", "reached_target"] == "2/3"


def test_diverged_and_skipped_runs_show_their_status_and_reason(runs_root: Path, tmp_path: Path) -> None:
    outputs = write_report([runs_root], tmp_path, ReportOptions())
    table = pd.read_csv(outputs.table).set_index("group")
    assert table.loc["sgd", "status"] == "1 diverged, 2 ok"
    assert table.loc["sparseadam", "status"] == "1 skipped"
    markdown = outputs.markdown.read_text()
    assert "sgd: 1 diverged, 2 ok — training loss" in markdown
    assert "sparseadam: 1 skipped — SparseAdam does not support dense gradients" in markdown


def test_grouping_by_another_key(runs_root: Path, tmp_path: Path) -> None:
    outputs = write_report([runs_root], tmp_path, ReportOptions(group_by=["optimizer", "seed"], sort_by="group"))
    groups = pd.read_csv(outputs.table)["group"].tolist()
    assert "adam, 1" in groups and "adam, 2" in groups


def test_curves_come_from_tensorboard_events(runs_root: Path) -> None:
    run = next(r for r in load_runs([runs_root / "sweep_a" / "adam_1"]))
    assert list(run.curves.index) == [1, 2, 3]
    assert run.curves["val_loss"].iloc[-1] == pytest.approx(run.summary.val_loss)
    assert run.curves["elapsed_s"].is_monotonic_increasing


def test_command_line_prints_the_figure_and_table(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "optlab.report", str(runs_root), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'loss_epoch.png'}" in result.stdout and f"table: {out / 'summary.csv'}" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--group-by", "colour"], "cannot group by ['colour']"),
    ([], "no summary.json under"),
])
def test_command_line_errors_are_one_line(tmp_path: Path, runs_root: Path, args: list[str], message: str) -> None:
    target = runs_root if args else tmp_path
    result = subprocess.run([sys.executable, "-m", "optlab.report", str(target), "--out", str(tmp_path / "o"), *args],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
