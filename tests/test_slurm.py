"""Sweeps and tuning on a real SLURM cluster: tests/services.py starts a one-node cluster on this machine (munged,
slurmctld, slurmd) and stops it after; every run is a SLURM job submitted through Hydra's submitit launcher
(conf/hydra/launcher/slurm.yaml)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from helpers import compose_config, killed_at_exit, read_summary, wait_until
from services import slurm_cluster

# One SLURM cluster at a time: make test's two pytest processes (pytest-xdist, --dist loadgroup) send these tests to
# the same one, in turn, rather than start two clusters that would each offer the node's every CPU.
pytestmark = pytest.mark.xdist_group("slurm")

SMALL_JOBS = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
              "hydra.launcher.timeout_min=10"]


@pytest.mark.parametrize(("device", "gpus"), [("gpu", 1), ("cpu", None), ("auto", None)])
def test_slurm_jobs_ask_for_the_gpus_their_runs_use(device: str, gpus: int | None, tmp_path: Path) -> None:
    cfg = compose_config(["hydra/launcher=slurm", f"device={device}"], tmp_path)
    assert cfg.hydra.launcher.gpus_per_node == gpus


@pytest.mark.slow
def test_the_tuning_protocol_runs_its_trials_as_slurm_jobs(tmp_path: Path) -> None:
    with slurm_cluster() as env:
        out = tmp_path / "tune"
        result = subprocess.run([sys.executable, "-m", "optlab.tune", "optimizer=sgd,adam", "data=digits",
                                 "debug=tiny", "budget=2", "seeds=1", "selection.seeds=0", "widen.rounds=0",
                                 "workers=2", *SMALL_JOBS, f"out={out}"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(out / "report" / "tuning.csv").set_index("optimizer")  # a row per optimizer, its trials
    assert sorted(table.index) == ["adam", "sgd"] and (table["trials"] == 2).all()
    report = (out / "report" / "tuning.md").read_text()
    assert "| sgd | " in report and "| adam | " in report
    summaries = list(out.glob("*/*/*/summary.json"))  # search, tuned and default runs of both optimizers
    assert len(summaries) == 2 * (2 + 1 + 1) and all(read_summary(p.parent)["status"] in ("ok", "pruned")
                                                     for p in summaries)
    assert len(list(out.rglob(".submitit/*/*_log.out"))) == len(summaries)


@pytest.mark.slow
def test_a_partition_or_account_slurm_does_not_have_is_its_refusal_in_one_line(tmp_path: Path) -> None:
    # A MariaDB deletes every #sql* file in its tmpdir when it starts: the cluster's keeps to a folder of its own,
    # so that it and any other MariaDB on the machine never delete each other's temporary tables.
    probe = Path(tempfile.gettempdir()) / f"#sql-optlab-probe-{os.getpid()}"
    probe.touch()
    with slurm_cluster() as env:
        assert probe.exists()
        probe.unlink()
        refused = {key: subprocess.run([sys.executable, "-m", "optlab.train", "-m", "optimizer=sgd", "data=digits",
                                        "debug=tiny", *SMALL_JOBS, f"hydra.launcher.{key}=nowhere",
                                        f"hydra.sweep.dir={tmp_path / key}"], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=300)
                   for key in ("partition", "account")}
    said = {"partition": "Invalid partition name specified", "account": "Invalid account"}
    for key, result in refused.items():
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert f"SLURM refused the jobs (sbatch: error: Batch job submission failed: {said[key]}" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(2400)  # three sweeps of SLURM jobs, ~3 min on 2 busy cores; its own limits add up to 2160 s
def test_a_sweep_runs_as_slurm_jobs_and_a_cancelled_one_is_listed_then_resumed_to_the_same_numbers(
        tmp_path: Path) -> None:
    args = ["-m", "optimizer=sgd,adam", "data=digits", "debug=tiny", "trainer.max_epochs=16", *SMALL_JOBS]
    with slurm_cluster() as env:
        straight = tmp_path / "straight"
        done = subprocess.run([sys.executable, "-m", "optlab.train", *args, f"hydra.sweep.dir={straight}"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs = [read_summary(p.parent) for p in straight.glob("*/summary.json")]
        assert sorted(r["optimizer"] for r in runs) == ["adam", "sgd"] and all(r["status"] == "ok" for r in runs)
        report = (straight / "report" / "summary.md").read_text()  # a row per run: group, runs, status
        assert "| adam | 1 | 1 ok |" in report and "| sgd | 1 | 1 ok |" in report
        assert len(list((straight / ".submitit").glob("*/*_log.out"))) == 2  # a SLURM job per run, its log there

        # The same sweep again; its adam job cancelled mid-run (SIGKILL, as an out-of-memory kill or a lost node).
        cancelled = tmp_path / "cancelled"
        sweep = subprocess.Popen([sys.executable, "-m", "optlab.train", *args, f"hydra.sweep.dir={cancelled}"],
                                 cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with killed_at_exit(sweep):
            wait_until(lambda: list(cancelled.glob("1_adam*/checkpoints/last.ckpt")), 300,
                       "the adam job's first checkpoint", every_s=0.1)
            jobs = subprocess.run(["squeue", "--noheader", "--format=%i"], env=env, capture_output=True, text=True)
            adam_job = next(job for job in jobs.stdout.split() if job.endswith("_1"))  # the array's second run
            subprocess.run(["scancel", "--signal=KILL", "--full", adam_job], env=env, check=True, timeout=60)
            stdout, stderr = sweep.communicate(timeout=600)
        assert sweep.returncode != 0 and "Traceback" not in stderr, stderr[-3000:]
        assert f"SLURM job {adam_job} (optimizer=adam" in stdout + stderr and " ended CANCELLED" in stdout + stderr
        listed = stderr[stderr.index("this sweep did not end well"):]  # killed or interrupted, as the signal fell
        assert "1_adam" in listed and "0_sgd" not in listed
        assert "| sgd | 1 | 1 ok |" in (cancelled / "report" / "summary.md").read_text()  # of the run that ended
        sgd = next(cancelled.glob("0_sgd*/summary.json"))
        assert read_summary(sgd.parent)["status"] == "ok"
        kept = sgd.stat().st_mtime_ns

        resumed = subprocess.run([sys.executable, "-m", "optlab.train", *args, f"hydra.sweep.dir={cancelled}",
                                  "resume=true"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sgd.stat().st_mtime_ns == kept  # finished: not run again
    for run in ("0_sgd", "1_adam"):
        expected = read_summary(next(straight.glob(f"{run}*/summary.json")).parent)
        got = read_summary(next(cancelled.glob(f"{run}*/summary.json")).parent)
        assert got["status"] == "ok" and got["epochs"] == 16
        for key in ("train_loss", "val_loss", "val_acc"):
            assert got[key] == pytest.approx(expected[key], rel=1e-5), (run, key)
    # The report written after the resume is the uninterrupted sweep's: both runs finished, the same numbers.
    straight_table = pd.read_csv(straight / "report" / "summary.csv").set_index("group")
    resumed_table = pd.read_csv(cancelled / "report" / "summary.csv").set_index("group")
    assert sorted(resumed_table.index) == ["adam", "sgd"] and (resumed_table["status"] == "1 ok").all()
    for key in ("train_loss", "val_loss", "val_acc"):
        assert resumed_table[key].to_dict() == pytest.approx(straight_table[key].to_dict(), rel=1e-5), key
