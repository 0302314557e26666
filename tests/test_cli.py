"""The command line as a user runs it: bad input fails fast with one readable line; sweeps; DDP on CPU."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import (
    TINY,
    assert_one_line,
    fake_idx_folder,
    killed_at_exit,
    read_summary,
    run_cli,
    run_main,
    wait_until,
)

FAST = [*TINY, "trainer.max_epochs=1"]
# Refusing device=gpu is only checkable where there is no GPU; with one, those runs would train.
NEEDS_NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: device=gpu is valid here")


@pytest.mark.parametrize("overrides, message", [
    (["optimizer=adamm"], "Could not find 'optimizer/adamm'"),
    (["optimizer.lr=-0.1"], "optimizer.lr=-0.1 must be a positive, finite learning rate"),
    (["optimizer=muon", "optimizer.other_optimizer.lr=0"], "optimizer.other_optimizer.lr=0 must be a positive"),
    (["data.batch_size=0"], "data.batch_size=0 must be a positive number"),
    (["data.train_size=100000"], "data.train_size=100000 must be between 1 and 96"),
    (["data.val_size=128"], "data.val_size=128 must leave between 1 and 127 images for validation"),
    (["optimizer=lbfgs", "precision=bf16-mixed"], "Lightning's mixed precision does not support LBFGS"),
    (["precision=16-mixed"], "precision=16-mixed (fp16 autocast) is not supported on CPU"),
    pytest.param(["device=gpu"], "has no CUDA GPU; use device=cpu", marks=NEEDS_NO_GPU),
    pytest.param(["device=ddp"], "has no CUDA GPU; use device=cpu", marks=NEEDS_NO_GPU),
])
def test_bad_input_gets_one_clear_line_and_a_nonzero_exit(tmp_path: Path, overrides: list[str], message: str,
                                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main(*FAST, *overrides, "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code not in (0, None)
    assert message in f"{code}\n{printed}", printed[-2000:]
    assert "Traceback" not in printed
    assert not list(tmp_path.rglob("events.out.tfevents*")) and not list(tmp_path.rglob("*.ckpt"))  # never trained


def test_bad_input_from_a_shell_is_one_line_on_stderr(tmp_path: Path) -> None:
    result = run_cli(*FAST, "optimizer.lr=-0.1", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    message = "optlab: optimizer.lr=-0.1 must be a positive, finite learning rate, e.g. optimizer.lr=0.01"
    assert assert_one_line(result.stderr, message) == message


def test_missing_data_names_the_files_and_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main(*FAST, "data=mnist", f"data.root={tmp_path / 'nothing'}", "data.download=false",
                             "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code not in (0, None) and "Traceback" not in printed
    assert "train-images-idx3-ubyte[.gz]" in str(code) and "set data.root" in str(code)


def test_corrupt_data_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    fake_idx_folder(tmp_path / "idx", compress=True, n_train=200, n_test=20)
    victim = tmp_path / "idx" / "train-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])
    code, printed = run_main(*FAST, "data=fashion_mnist", f"data.root={tmp_path / 'idx'}", "data.val_size=20",
                             "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code not in (0, None) and "Traceback" not in printed
    assert "train-images-idx3-ubyte.gz is not a readable gzip file" in str(code)


def test_full_error_env_still_shows_the_traceback(tmp_path: Path) -> None:
    result = run_cli(*FAST, "optimizer.lr=-0.1", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_ddp_inside_a_multirun_is_refused_before_it_relaunches_the_sweep(tmp_path: Path) -> None:
    result = run_cli("-m", *FAST, "device=ddp_cpu", "seed=1", f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path)
    assert result.returncode != 0
    assert "trainer.strategy=ddp cannot run inside a multirun" in result.stderr + result.stdout


def summaries(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: read_summary(p.parent) for p in sweep.glob("*/summary.json")}


def test_lr_sweep_ends_with_one_ok_and_one_diverged(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli("-m", *FAST, "optimizer=sgd", "optimizer.lr=0.01,1000000", f"hydra.sweep.dir={sweep}",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    found = summaries(sweep)
    assert sorted(found) == ["0_sgd_lr0.01_seed1", "1_sgd_lr1000000_seed1"]  # folders name the swept lr
    assert (found["0_sgd_lr0.01_seed1"]["status"], found["1_sgd_lr1000000_seed1"]["status"]) == ("ok", "diverged")
    groups = pd.read_csv(sweep / "report" / "summary.csv")["group"]
    assert sorted(groups) == ["sgd lr=0.01", "sgd lr=1000000"]


def test_seed_sweep_reports_confidence_intervals_and_a_paired_comparison(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli("-m", *FAST, "data=digits", "optimizer=sgd,adam", "seed=1,2,3", f"hydra.sweep.dir={sweep}",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"report: {sweep / 'report' / 'summary.md'}" in result.stdout
    table = pd.read_csv(sweep / "report" / "summary.csv").set_index("group")
    assert sorted(table.index) == ["adam", "sgd"] and (table["runs"] == 3).all()
    assert (table["test_acc_low"] < table["test_acc"]).all() and (table["test_acc"] < table["test_acc_high"]).all()
    reference = table["reference"].iloc[0]
    other = table.drop(index=reference).iloc[0]
    assert table.loc[reference, "verdict"] == "reference" and 0 <= other["p_holm"] <= 1
    assert other["verdict"] in ("lower", "higher", "not separated")
    assert "paired t-tests with Holm's correction" in (sweep / "report" / "summary.md").read_text()


def test_runs_killed_before_their_summary_and_runs_never_started_are_listed(tmp_path: Path) -> None:
    """What a cluster leaves when a job is killed (SIGKILL, a lost node) or cancelled before it started: a run folder
    without summary.json, or no folder at all (tests/test_slurm.py makes both happen on a real SLURM)."""
    from optlab.report.multirun_callback import unended_runs

    for name in ("0_sgd_seed1", "1_adam_seed1"):
        (tmp_path / name / ".hydra").mkdir(parents=True)
    (tmp_path / "0_sgd_seed1" / "summary.json").write_text("{}")
    assert unended_runs(tmp_path, planned=3) == [
        "1_adam_seed1: no summary.json, the run was killed before it ended; resume=true continues it",
        "1 of 3 runs never started (their jobs' errors are above)"]
    assert unended_runs(tmp_path, planned=None) == unended_runs(tmp_path, planned=2)[:1]


def test_failed_job_does_not_stop_the_sweep_but_fails_the_multirun(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli("-m", *FAST, "optimizer=sgd", "optimizer.lr=-1,0.01", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode != 0
    assert "this sweep did not end well" in result.stderr and "optimizer.lr=-1" in result.stderr
    assert sorted(s["status"] for s in summaries(sweep).values()) == ["failed", "ok"]
    failed = next(p for p in sweep.iterdir() if summaries(sweep).get(p.name, {}).get("status") == "failed")
    log_text = (failed / "train.log").read_text()
    assert "ConfigError" in log_text or "must be a positive" in log_text


def test_a_report_that_cannot_be_written_fails_the_multirun_and_keeps_the_runs(tmp_path: Path) -> None:
    """Hydra would turn the report's exception into a warning and exit 0: the multirun says what went wrong in
    one line, how to rewrite the report, and exits non-zero; the runs are kept."""
    sweep = tmp_path / "sweep"
    result = run_cli("-m", *FAST, "optimizer=sgd,adam", "report.reference=lion", f"hydra.sweep.dir={sweep}",
                     cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "report: ValueError: reference group 'lion' is not among the groups ['adam', 'sgd']" in result.stderr
    assert f"python -m optlab.report {sweep} --out {sweep / 'report'}" in result.stderr
    assert sorted(s["status"] for s in summaries(sweep).values()) == ["ok", "ok"]


@pytest.mark.slow
def test_sweep_of_every_optimizer_end_to_end(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli("-m", *FAST, "optimizer=glob(*)", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    found = summaries(sweep)
    assert len(found) == 18
    for name, summary in found.items():
        expected = "skipped" if summary["optimizer"] == "sparseadam" else "ok"
        assert summary["status"] == expected, (name, summary["reason"])
    assert "report:" in result.stdout
    assert (sweep / "report" / "ranking.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # The report's table: a row per optimizer, each with its run's outcome.
    table = pd.read_csv(sweep / "report" / "summary.csv").set_index("group")
    assert sorted(table.index) == sorted(summary["optimizer"] for summary in found.values())
    assert table.loc["sparseadam", "status"] == "1 skipped"
    assert (table.drop(index="sparseadam")["status"] == "1 ok").all()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # three sweeps, ~4 min on 2 busy cores; its own limits add up to 1620 s
def test_sweep_killed_mid_run_resumes_to_the_numbers_of_an_uninterrupted_sweep(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    args = ["-m", *TINY, "trainer.max_epochs=4", "data.source.num_train=1200", "optimizer=sgd,adam,lion",
            "data.augment=true"]
    straight = tmp_path / "straight"
    assert run_cli(*args, f"hydra.sweep.dir={straight}", cwd=tmp_path).returncode == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "optlab.train", *args, f"hydra.sweep.dir={killed}"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with killed_at_exit(process):
        wait_until((killed / "1_adam_seed1" / "checkpoints" / "last.ckpt").exists, 300,
                   "the second run's first checkpoint")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    # How to continue: the sweep as a whole, from its folder (the interrupted run's own folder would run it alone).
    assert f"continue the sweep with the same command, resume=true and hydra.sweep.dir={killed}" in stderr, stderr
    assert summaries(killed)["1_adam_seed1"]["status"] == "interrupted" and "2_lion_seed1" not in summaries(killed)
    resumed = run_cli(*args, f"hydra.sweep.dir={killed}", "resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for name, expected in summaries(straight).items():
        got = summaries(killed)[name]
        assert got["status"] == "ok" and got["epochs"] == 4
        for key in ("train_loss", "val_loss", "val_acc", "test_acc"):
            assert got[key] == pytest.approx(expected[key], rel=1e-5), (name, key)
    # The report written after the resume is the uninterrupted sweep's: every group finished, the same numbers.
    straight_table = pd.read_csv(straight / "report" / "summary.csv").set_index("group")
    killed_table = pd.read_csv(killed / "report" / "summary.csv").set_index("group")
    assert sorted(killed_table.index) == ["adam", "lion", "sgd"] and (killed_table["status"] == "1 ok").all()
    for key in ("val_acc", "test_acc"):
        assert killed_table[key].to_dict() == pytest.approx(straight_table[key].to_dict(), rel=1e-5), key


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_trains(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_cli(*FAST, "device=ddp_cpu", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "ok" and summary["epochs"] == 2
    printed = result.stdout + result.stderr  # Lightning's messages go through Hydra's console handler (stdout)
    assert "world_size: 2" in printed or "distributed_backend=gloo" in printed


@pytest.mark.slow
def test_ddp_processes_agree_when_one_of_them_diverges(tmp_path: Path) -> None:
    """The first batch's loss is 2.2886 on process 0 and 2.2922 on process 1 (seed 1, synthetic data): a bound of
    2.29 trips process 1 only. Both must stop together and process 0, which writes the summary, record the
    divergence (before: process 0 died on a closed socket; on NCCL it would hang)."""
    run_dir = tmp_path / "run"
    result = run_cli(*FAST, "device=ddp_cpu", "trainer.max_epochs=3", "divergence.max_loss=2.29",
                     f"hydra.run.dir={run_dir}", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "diverged", summary
    assert summary["reason"] == "training loss out of bounds on another process at step 1 (epoch 0)"
    assert "Traceback" not in result.stderr


def test_unwritable_output_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    (tmp_path / "a_file").write_text("")
    code, printed = run_main(*FAST, f"hydra.run.dir={tmp_path / 'a_file' / 'run'}", cwd=tmp_path,
                             monkeypatch=monkeypatch, capsys=capsys)
    blocker = tmp_path / "a_file"
    assert code == (f"optlab: hydra.run.dir={blocker / 'run'} cannot be created: {blocker} is a file, not a folder; "
                    "choose another folder")
    assert "Traceback" not in printed


def test_console_prints_each_event_once_and_no_advertisement(tmp_path: Path) -> None:
    result = run_cli(*FAST, "trainer.enable_model_summary=false", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    gpu_lines = [line for line in lines if "GPU available" in line]
    assert len(gpu_lines) == 1, gpu_lines  # was twice: Lightning's own handler and Hydra's
    assert not any("litlogger" in line or "LeafSpec" in line for line in lines)
    assert "GPU available" in (tmp_path / "run" / "train.log").read_text()  # still in the job's log file


def test_a_multirun_console_shows_a_line_per_run_and_a_counter(tmp_path: Path) -> None:
    """No Lightning model summary, progress bar or launcher line per job on the console: a header, one counted
    line per run with its outcome, the report. The summary stays in each run's train.log; a warning still shows."""
    sweep = tmp_path / "s"
    result = run_cli("-m", *FAST, "trainer.enable_progress_bar=${optlab_single_run:}",  # the default, not tiny's
                     "trainer.enable_model_summary=true",
                     "optimizer=glob([sgd,adam,sparseadam])", "seed=1,2", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip() and "[WARNING]" not in line]
    assert lines[0] == f"sweep: 6 runs into {sweep}" and lines[-1] == f"report: {sweep / 'report' / 'summary.md'}"
    runs = lines[1:-1]
    assert len(runs) == 6 and [line.split("]")[0] for line in runs] == [f"[{k}/6" for k in range(1, 7)]
    assert all(line.split("/6] ")[1].split(":")[0] in {f"{o}_seed{s}" for o in ("sgd", "adam", "sparseadam")
                                                        for s in (1, 2)} for line in runs)
    assert sum(": ok, val " in line for line in runs) == 4 and sum(": skipped, " in line for line in runs) == 2
    assert "left" in runs[0] and "left" not in runs[-1]
    # A skipped run is told once, by its progress line; its own warning goes to its train.log only.
    assert "[WARNING] - skipped: SparseAdam" not in result.stdout
    assert "skipped: SparseAdam" in (next(sweep.glob("*_sparseadam_seed1")) / "train.log").read_text()
    assert "UserWarning" not in result.stderr
    assert "Trainable params" not in result.stdout + result.stderr and "Epoch 0" not in result.stderr
    assert "Trainable params" in (sweep / "0_adam_seed1" / "train.log").read_text()


def test_a_multirun_console_keeps_warnings_and_leaves_a_runs_outcome_to_its_progress_line() -> None:
    from optlab.run.console import RUN_OUTCOME, SweepConsole
    from optlab.run.sweep_progress import LOGGER

    def record(name: str, level: int, **extra: object) -> logging.LogRecord:
        made = logging.LogRecord(name, level, __file__, 1, "message", None, None)
        made.__dict__.update(extra)
        return made

    console = SweepConsole()
    assert console.filter(record("optlab.data.datamodule", logging.WARNING))  # a warning the user can act on: shown
    assert console.filter(record(LOGGER, logging.INFO))  # the progress line
    assert not console.filter(record("optlab.run.job", logging.WARNING, **RUN_OUTCOME))  # said by that line
    assert not console.filter(record("lightning", logging.INFO))


def test_progress_line_and_estimate() -> None:
    from optlab.run.summary import RunSummary, Status
    from optlab.run.sweep_progress import progress_line

    base = {"data": "digits", "model": "cifar_net", "scheduler": "none", "precision": "32-true", "lr": 0.001}
    summary = RunSummary(optimizer="adam", seed=2, status=Status.OK, val_acc=0.973, train_time_s=4.14, epochs=5,
                         **base)
    # 10 s per run since the start, 24 left:
    assert progress_line(summary, "adam_seed2", 12, 10, 36, 100.0) == \
        "[12/36] adam_seed2: ok, val 97.30% after 5 epochs, 4.1 s; about 4 min left"
    failed = RunSummary(optimizer="sgd", seed=1, status=Status.FAILED, reason="ConfigError: lr must be positive",
                        **base)
    assert progress_line(failed, "sgd_seed1", 36, 30, 36, 100.0) == \
        "[36/36] sgd_seed1: failed, ConfigError: lr must be positive"
    assert progress_line(summary, "adam_seed2", 3, 0, None, 5.0) == \
        "[3] adam_seed2: ok, val 97.30% after 5 epochs, 4.1 s"


def test_mlflow_logger_records_every_run_of_a_sweep(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    result = run_cli("-m", *FAST, "logger=mlflow", "optimizer=sgd,adam", f"hydra.sweep.dir={tmp_path / 's'}",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("optlab").experiment_id])
    by_name = {run.info.run_name: run for run in runs}
    assert sorted(by_name) == sorted(p.name for p in (tmp_path / "s").glob("*_seed1"))  # named as the folders
    for name, run in by_name.items():
        summary = read_summary(tmp_path / "s" / name)
        assert run.info.status == "FINISHED" and run.data.params["optimizer"] == summary["optimizer"]
        assert run.data.metrics["hparams/val_acc"] == pytest.approx(summary["val_acc"])
        assert len(client.get_metric_history(run.info.run_id, "val/loss")) == summary["epochs"]  # the curve


def test_wandb_logger_writes_one_offline_run_per_job(tmp_path: Path) -> None:
    sweep = tmp_path / "s"
    result = run_cli("-m", *FAST, "logger=wandb", "optimizer=sgd,adam", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
                     env={"WANDB_SILENT": "true"})
    assert result.returncode == 0, result.stderr[-2000:]
    for folder in sorted(sweep.glob("*_seed1")):
        # One run per job: W&B keeps a process's run open unless finished, so the second job would log into the
        # first. The run file is W&B's own binary format; its name and the final metrics are stored as text.
        (run_file,) = folder.glob("wandb/offline-run-*/run-*.wandb")
        content = run_file.read_bytes()
        assert folder.name.encode() in content and b"hparams/val_acc" in content and b"val/loss" in content
