"""`hydra/sweeper=optuna` (conf/hydra/sweeper/optuna.yaml): hparams_search's Optuna search, on Optuna >= 4."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    def __init__(self, sampler: Any, direction: str, study_name: str, storage: str | None, n_trials: int,
                 n_jobs: int, params: DictConfig | None) -> None:
        self.settings = {"sampler": sampler, "direction": direction, "study_name": study_name, "storage": storage,
                         "n_trials": n_trials, "n_jobs": n_jobs, "params": params or {}}

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: Sequence[str]) -> None:
        from optlab.tune.search.sweep import run_search

        run_search(self.settings, self.config, self.launcher, list(arguments))
