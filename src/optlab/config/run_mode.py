"""Whether the running Hydra job is part of a multirun: the one place that asks Hydra (a sweep's jobs keep the
console quiet, name their sweep when interrupted, and pick a GPU by job number)."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode


def is_multirun() -> bool:
    return HydraConfig.get().mode == RunMode.MULTIRUN
