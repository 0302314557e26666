"""Shared fixtures: configs composed with Hydra's compose API, shrunk to seconds on CPU, outputs under tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))
SCHEDULERS = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml"))

# Tiny but real: conf/debug/tiny.yaml (2 epochs of 3 batches on synthetic data, quiet, one thread), the same
# choice users have.
TINY = ["debug=tiny"]


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/train.yaml as the CLI would and register it as the running Hydra config."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    def make(*overrides: str, tiny: bool = True, output_dir: Path | None = None) -> DictConfig:
        return compose_config([*(TINY if tiny else []), *overrides], output_dir or tmp_path)

    return make


def run_cli(
    *args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m optlab.train ARGS` in cwd, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "optlab.train", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )
