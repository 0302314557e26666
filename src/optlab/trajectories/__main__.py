"""`python -m optlab.trajectories [-m] optimizer=... function=...` (see conf/trajectories.yaml).

One job per optimizer: its lr picked on a small grid, the chosen path saved; a single run draws its own folder,
a multirun draws every optimizer of the sweep together when it ends (TrajectoriesOnMultirunEnd).
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from optlab.config.compose import hydra_command
from optlab.config.run_mode import is_multirun


def trace_one(cfg: DictConfig) -> float:
    """Returns the chosen path's mean function value (lower is better) for Hydra's sweepers."""
    from hydra.utils import instantiate

    from optlab.trajectories.job import trace
    from optlab.trajectories.outputs import write_outputs

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    record = trace(cfg, HydraConfig.get().runtime.choices["optimizer"], output_dir)
    if not is_multirun():
        for path in write_outputs(output_dir, instantiate(cfg.function, _convert_="all"), cfg.steps, cfg.gif_frames):
            print(path)
    return record.score


def run() -> None:
    """The `optlab-trajectories` console script and `python -m optlab.trajectories`."""
    hydra_command(trace_one, "trajectories")


if __name__ == "__main__":
    run()
