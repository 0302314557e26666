"""The harnesses of benchmarks/ end to end, each as its command runs it (`python -m benchmarks.<harness>` from the
repository root). The speed harness runs on a small random CIFAR-10 copy: the benchmark a GPU session runs in a
short lent window must not be first run there. Its figures on such data mean nothing, so only that every loop ran,
side by side, and the table and the verdict were printed is checked (a missed target exits 1, as it should)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, assert_one_line, fake_cifar


def harness(name: str, *arguments: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m benchmarks.NAME ARGUMENTS` from the repository root, as benchmarks/README.md runs it."""
    return subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *arguments], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_the_speed_benchmark_runs_its_loops_side_by_side_and_prints_the_table(tmp_path: Path) -> None:
    fake_cifar(tmp_path, per_batch=1100)  # 5,500 images: the benchmark holds out 5,000 for validation, as optlab
    result = harness("speed", "--root", str(tmp_path), "--verify", "false", "--only", "cifar", "sweep",
                     "--batch-sizes", "100", "--epochs", "2", "--repeats", "1", "--sweep-epochs", "1",
                     "--sweep-train-size", "200")
    assert result.returncode in (0, 1), result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"\| 100 \| [\d.]+ s \| [\d.]+ s \| [\d.]+ s \| [\d.]+x \| [\d.]+x \|", out), out
    assert "torchvision+PIL DataLoader loop" in out and "augmentation on" in out
    assert re.search(r"basic [\d.]+ s, joblib [\d.]+ s; largest val_loss difference", out), out
    assert "same results, joblib vs basic, batch 100" in out
    assert re.search(r"\d+ of \d+ targets met", out), out


@pytest.mark.slow
def test_against_a_commit_runs_both_trees_in_turns_and_prints_the_ratio(tmp_path: Path) -> None:
    """--against HEAD: the commit and the working tree, each installed into a folder of its own, in turns."""
    fake_cifar(tmp_path, per_batch=1100)
    result = harness("speed", "--against", "HEAD", "--root", str(tmp_path), "--verify", "false", "--batch-sizes",
                     "100", "--epochs", "2", "--repeats", "1")
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert re.search(r"\| 100 \| [\d.]+ s \| [\d.]+ s \| [\d.]+ \([\d.]+\) \|", result.stdout), result.stdout
    assert "working tree / HEAD, batch 100" in result.stdout


def test_against_an_unknown_commit_is_one_line() -> None:
    result = harness("speed", "--against", "no-such-ref", timeout=300)
    assert result.returncode != 0
    message = f"bench: --against no-such-ref is not a commit of {ROOT}"
    assert assert_one_line(result.stderr, message) == message


def test_step_profile_parts_counts_each_sample_under_its_innermost_part(tmp_path: Path) -> None:
    """benchmarks.step_profile_parts on a py-spy raw profile written by hand: the model's forward inside Lightning's
    closure is the forward, not the optimizer step around it; samples outside training batches are left out."""
    batch = "main (optlab/train.py:60);_TrainingEpochLoop.advance (lightning/pytorch/loops/training_epoch_loop.py:1)"
    step = f"{batch};SGD.step (torch/optim/sgd.py:1);closure (lightning/pytorch/loops/optimization/automatic.py:1)"
    profile = tmp_path / "profile.txt"
    profile.write_text("\n".join([
        f"{step};Classifier.training_step (optlab/run/classifier.py:1);CifarNet.forward (optlab/models/cnns.py:33);"
        "Conv2d.forward (torch/nn/modules/conv.py:1) 6",
        f"{step};Tensor.backward (torch/_tensor.py:1);_engine_run_backward (torch/autograd/graph.py:1) 3",
        f"{batch};SGD.step (torch/optim/sgd.py:1);_single_tensor_sgd (torch/optim/sgd.py:1) 2",
        f"{batch};DivergenceGuard.on_train_batch_end (optlab/run/callbacks.py:1) 1",
        f"{batch};_call_callback_hooks (lightning/pytorch/trainer/call.py:1) 4",
        "main (optlab/train.py:60);import_module (importlib/__init__.py:1) 50",
    ]) + "\n")
    result = harness("step_profile_parts", f"run={profile}", timeout=60)
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^\| (.+?) \| ([\d.]+)% \|$", result.stdout, re.MULTILINE))
    assert rows == {"model: forward": "37.5", "Lightning: loop, hook dispatch, closure, wrappers": "25.0",
                    "model: backward": "18.8", "model: SGD update": "12.5", "optlab's callbacks": "6.2"}
    assert "samples in training batches: run 16" in result.stdout


def test_run_profile_phases_splits_the_main_threads_samples_into_seconds_per_phase(tmp_path: Path) -> None:
    """benchmarks.run_profile_phases on a py-spy raw profile written by hand: each main-thread sample falls in the
    first phase that its stack names (a training batch's validation-free step is training, an import inside a
    validation is validation), another thread's samples are left out, and the per-run overhead leaves out training,
    validation and imports."""
    main = "_run_module_as_main (<frozen runpy>:198);main (optlab/train.py:44)"
    fit = f"{main};Trainer.fit (lightning/pytorch/trainer/trainer.py:1)"
    profile = tmp_path / "profile.txt"
    profile.write_text("\n".join([
        f"{fit};_TrainingEpochLoop.advance (lightning/pytorch/loops/training_epoch_loop.py:1);forward (x:1) 300",
        f"{fit};run (lightning/pytorch/loops/evaluation_loop.py:1);_find_and_load (<frozen importlib>:1) 50",
        f"{main};Trainer.test (lightning/pytorch/trainer/trainer.py:1);run (loops/evaluation_loop.py:1) 40",
        f"{main};_find_and_load (<frozen importlib._bootstrap>:1176) 20",
        f"{main};Hydra.compose_config (hydra/_internal/hydra.py:594) 3",
        f"{fit};setup (optlab/data/datamodule.py:1) 4",
        f"{main};write (optlab/run/summary.py:1) 2",
        f"{main};somewhere (else.py:1) 1",
        "Thread._bootstrap (threading.py:1002);_AsyncWriterThread.run (tensorboard/x.py:1);Queue.get (queue.py:1) 900",
    ]) + "\n")
    result = harness("run_profile_phases", "--rate", "10", f"run={profile}", timeout=60)
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^\| \**(.+?)\** \| \**([\d.]+)\** \|$", result.stdout, re.MULTILINE))
    assert rows == {"training batches": "30.0", "validation": "5.0", "imports": "2.0",
                    "test (the final evaluation, set-up included)": "4.0", "Hydra: compose the config": "0.3",
                    "data: read, decode, split": "0.4", "optlab: the run's records": "0.2", "other": "0.1",
                    "whole run": "42.0", "per-run overhead": "5.0"}
