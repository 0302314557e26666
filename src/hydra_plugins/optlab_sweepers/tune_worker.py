"""`hydra/sweeper=optlab_tune_worker`: one asynchronous worker of an optlab.tune protocol (optlab.tune.worker)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class TuneWorker(Sweeper):
    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)
        self.hydra_context, self.config = hydra_context, config

    def sweep(self, arguments: Sequence[str]) -> None:
        from optlab.tune.worker import work

        def compose(overrides: list[str]) -> DictConfig:
            """A job's config as the launcher builds it (Hydra's own per-job composition)."""
            return self.hydra_context.config_loader.load_sweep_config(self.config, overrides)

        work(self.protocol, self.launcher, list(arguments), compose)
