"""Hydra callback: when a trajectory multirun ends, draw all its optimizers together in the sweep folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig


class TrajectoriesOnMultirunEnd(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from optlab.trajectories.outputs import write_outputs  # matplotlib and torch only when drawing

        function = instantiate(config.function, _convert_="all")
        for path in write_outputs(Path(config.hydra.sweep.dir), function, config.steps, config.gif_frames):
            print(path)
