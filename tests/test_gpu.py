"""The GPU paths, where a CUDA GPU is present (skipped cleanly elsewhere, e.g. on CI): one tiny run per path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY, run_main

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("overrides", [
    ["device=gpu"],
    ["device=gpu", "precision=bf16-mixed"],
    ["device=gpu", "precision=16-mixed"],
    ["device=gpu", "optimizer=lbfgs"],
    ["device=gpu", "optimizer=muon", "scheduler=onecycle"],
    ["device=ddp", "trainer.devices=1"],
])
def test_gpu_path_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, overrides: list[str]) -> None:
    code, printed = run_main(*TINY, *overrides, "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code == 0, printed[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "ok", summary["reason"]
    assert torch.cuda.get_device_name(0) in summary["device"]
