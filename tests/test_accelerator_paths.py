"""The accelerator options (data.resident, compile, one GPU per sweep job), checked on the CPU: the same code runs,
with the CPU or the meta device standing in for a GPU where the logic needs one. tests/test_gpu.py runs them on a
GPU where there is one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

from optlab.config.checks import ConfigError, check_config
from optlab.config.gpu_jobs import devices_for_job
from optlab.run.job import train


def test_resident_data_changes_no_number(make_cfg, tmp_path: Path) -> None:
    """The same run with its images in the trainer's device memory (the GPU path, on the CPU here) and in host
    memory: identical numbers."""
    resident = train(make_cfg("data.resident=true", output_dir=tmp_path / "resident"))
    host = train(make_cfg("data.resident=false", output_dir=tmp_path / "host"))
    numbers = [(run.train_loss, run.val_loss, run.test_acc) for run in (resident, host)]
    assert numbers[0] == numbers[1]


@pytest.mark.parametrize("overrides, message", [
    (["data.resident=maybe"], "data.resident=maybe must be auto, true or false"),
    (["data.resident=true", "data.num_workers=2", "trainer.accelerator=gpu"],
     "data.num_workers=2 worker processes cannot reach them: set data.num_workers=0 or data.resident=false"),
])
def test_impossible_data_placement_is_one_line(make_cfg, overrides: list[str], message: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # past the no-GPU check, to the placement one
    with pytest.raises(ConfigError, match=message):
        check_config(make_cfg(*overrides), "sgd", multirun=False)


def test_compiled_model_trains_to_the_eager_numbers_and_keeps_its_checkpoint_keys(make_cfg, tmp_path: Path) -> None:
    """compile.enabled through the aot_eager backend (the compile path without code generation, seconds on a CPU):
    the same losses as eager up to float reordering, and a checkpoint with the eager model's keys."""
    compiled = train(make_cfg("compile.enabled=true", "compile.backend=aot_eager", output_dir=tmp_path / "compiled"))
    eager = train(make_cfg(output_dir=tmp_path / "eager"))
    assert compiled.status == eager.status == "ok"
    assert compiled.val_loss == pytest.approx(eager.val_loss, rel=1e-4)
    keys = [set(torch.load(tmp_path / run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"])
            for run in ("compiled", "eager")]
    assert keys[0] == keys[1]


@pytest.mark.parametrize("job_num, gpus, devices", [
    (None, 4, 1), (0, 1, 1), (0, 0, 1), (5, 4, [1]), (7, 8, [7]), (8, 8, [0]),
])
def test_sweep_jobs_spread_over_the_gpus(job_num: int | None, gpus: int, devices) -> None:
    assert devices_for_job(job_num, gpus) == devices


def test_device_gpu_in_a_multirun_resolves_to_the_jobs_gpu(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    """conf/device/gpu.yaml's devices, resolved in job 6 of a multirun on a machine with 4 GPUs: GPU 2."""
    cfg = make_cfg("device=gpu")
    with open_dict(cfg), read_write(cfg.hydra), read_write(cfg.hydra.job):
        cfg.hydra.mode, cfg.hydra.job.num = RunMode.MULTIRUN, 6
    HydraConfig.instance().set_config(cfg)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert list(cfg.trainer.devices) == [2]
