"""Shared fixtures; the helpers they use live in helpers.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import TINY, compose_config
from omegaconf import DictConfig


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    def make(*overrides: str, tiny: bool = True, output_dir: Path | None = None) -> DictConfig:
        return compose_config([*(TINY if tiny else []), *overrides], output_dir or tmp_path)

    return make
