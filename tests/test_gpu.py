"""The GPU paths, where a CUDA GPU is present (skipped cleanly elsewhere, e.g. on CI): one tiny run per path, data
resident on the GPU, and steps that never wait for the GPU between the divergence checks and logged steps."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from helpers import TINY, compose_config, read_summary, run_main
from hydra.utils import instantiate

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("overrides", [
    ["device=gpu"],
    ["device=gpu", "precision=bf16-mixed"],
    ["device=gpu", "precision=16-mixed"],
    ["device=gpu", "optimizer=lbfgs"],
    ["device=gpu", "optimizer=muon", "scheduler=onecycle"],
    ["device=gpu", "data.augment=true", "scheduler=cosine"],
    ["device=gpu", "compile.enabled=true"],
    ["device=gpu", "compile.enabled=true", "compile.mode=reduce-overhead"],
    ["device=ddp", "trainer.devices=1"],
])
def test_gpu_path_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, overrides: list[str]) -> None:
    code, printed = run_main(*TINY, *overrides, "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code == 0, printed[-2000:]
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "ok", summary["reason"]
    assert torch.cuda.get_device_name(0) in summary["device"]


def test_resident_batches_are_gathered_on_the_gpu(tmp_path: Path) -> None:
    cfg = compose_config([*TINY, "device=gpu"], tmp_path)
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    datamodule.trainer = pl.Trainer(accelerator="gpu", devices=1, logger=False)
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.is_cuda and labels.is_cuda and datamodule.parts["train"].images.is_cuda


def test_quiet_steps_never_wait_for_the_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """torch.cuda.set_sync_debug_mode("error") on every step that is neither a divergence check, a logged step nor
    an epoch's first or last: any host sync there (a .item(), a pageable copy) fails the run."""
    code, printed = run_main(
        *TINY, "device=gpu", "data.batch_size=4", "trainer.max_epochs=1", "trainer.log_every_n_steps=1000",
        "callbacks.dynamics.every_n_steps=1000", "+callbacks.no_syncs._target_=sync_guard.ForbidHostSyncs",
        "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, printed[-2000:]
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "ok", summary["reason"]
    assert (tmp_path / "run" / "quiet_steps").read_text().strip() != "0"
