"""optlab's OmegaConf resolvers, the `${optlab_*:...}` of conf/, and the one call that registers them.

Each command (optlab.train, optlab.trajectories, optlab.tune) calls register_resolvers() before Hydra composes its
config; importing a module registers nothing. A multirun's jobs need no call of their own: Hydra hands the
launching process's resolvers to its launchers' workers with the rest of its state (Singleton.get_state), and the
SLURM launcher's jobs too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from optlab.config.gpu_jobs import gpu_for_this_job
from optlab.config.run_identity import SWEPT_KEYS_ENV, run_name
from optlab.config.run_mode import is_multirun


def run_folder_name(optimizer: str, overrides: ListConfig, seed: int) -> str:
    """The run folder's name in a multirun: the values its sweep varies (hydra.sweep.subdir in conf/train.yaml)."""
    swept = os.environ.get(SWEPT_KEYS_ENV)
    return run_name(optimizer, list(overrides), seed, swept.split(",") if swept is not None else None)


def optimizer_name(*, _root_: DictConfig) -> str:
    """The optimizer's name as hparams_search's lr table knows it: a custom optimizer's optimizer_name, else its
    config's name without the folder (textbook/adam -> adam); in the launching process (whose config still holds
    `hydra`) and in a job (where only HydraConfig does)."""
    if _root_.get("optimizer_name") is not None:
        return str(_root_.optimizer_name)
    choices = _root_.hydra.runtime.choices if "hydra" in _root_ else HydraConfig.get().runtime.choices
    return str(choices.optimizer).rsplit("/", 1)[-1]


def lr_range_end(lr: Any, decades: float, side: int) -> float:
    """One end (side -1: low, +1: high) of the lr search range of an optimizer the table does not list: `decades`
    wide in log lr, centred on its configured lr (three for every shipped one, so yours gets the same budget)."""
    if lr is None:
        raise ValueError("optimizer.lr is null, and the search's range is placed around it: give the lr your "
                         "optimizer would use by default, e.g. optimizer.lr=0.001")
    return float(lr) * 10 ** (side * float(decades) / 2)


def slurm_gpus(accelerator: str, devices: Any) -> int | None:
    """GPUs a SLURM job asks for (conf/hydra/launcher/slurm.yaml): the run's own, none for a CPU run."""
    if str(accelerator) not in ("gpu", "cuda"):
        return None
    return int(devices) if str(devices).isdigit() else 1


def single_run() -> bool:
    """trainer.enable_progress_bar's default: a bar for a single run, none inside a multirun."""
    return not is_multirun()


RESOLVERS = {
    "optlab_run_name": run_folder_name,
    "optlab_folder_name": lambda path: Path(path).name,
    "optlab_optimizer_name": optimizer_name,
    "optlab_lr_range_end": lr_range_end,
    "optlab_gpu_for_job": gpu_for_this_job,
    "optlab_slurm_gpus": slurm_gpus,
    "optlab_single_run": single_run,
}


def register_resolvers() -> None:
    """Register every resolver of conf/ (again is harmless: replace=True)."""
    for name, resolver in RESOLVERS.items():
        OmegaConf.register_new_resolver(name, resolver, replace=True)
