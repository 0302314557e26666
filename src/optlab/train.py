"""The command line: `python -m optlab.train [overrides]` for one run, `-m` for a sweep (see conf/train.yaml).

Only Hydra is imported here; torch and Lightning (about 5 s of imports on a 2-core CPU) are imported when a job
starts. A sweep's launcher process then never pays for them: with the joblib launcher it only hands jobs to its
workers, and Hydra's own errors (an unknown option or group) come before any of that. optlab's config checks
(optlab.checks) run at the start of each job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

from hydra_plugins.optlab_launchers.slurm import SlurmLauncher
from hydra_plugins.optlab_sweepers.optuna_sweeper import OptunaSweeper
from hydra_plugins.optlab_sweepers.tune_worker import TuneWorker
from optlab.gpu_jobs import gpu_for_this_job
from optlab.run_identity import SWEPT_KEYS_ENV, run_name
from optlab.summary import Status
from optlab.sweep_progress import announce_run_end

# optlab's sweepers and launcher, registered by hand as well: Hydra finds plugins by scanning the hydra_plugins
# namespace, which an editable install (pip install -e, setuptools' default mode) hides from that scan; an installed
# wheel needs neither.
for _plugin in (OptunaSweeper, TuneWorker, SlurmLauncher):
    Plugins.instance().register(_plugin)


def _run_name(optimizer: str, overrides: ListConfig, seed: int) -> str:
    """The run folder's name in a multirun: the values its sweep varies (hydra.sweep.subdir in conf/train.yaml)."""
    swept = os.environ.get(SWEPT_KEYS_ENV)
    return run_name(optimizer, list(overrides), seed, swept.split(",") if swept is not None else None)


OmegaConf.register_new_resolver("optlab_run_name", _run_name, replace=True)
OmegaConf.register_new_resolver("optlab_folder_name", lambda path: Path(path).name, replace=True)


def _optimizer_name(*, _root_: DictConfig) -> str:
    """The optimizer config's name without its folder (textbook/adam -> adam), as hparams_search's lr table knows
    it; in the launching process (whose config still holds `hydra`) and in a job (where only HydraConfig does)."""
    choices = _root_.hydra.runtime.choices if "hydra" in _root_ else HydraConfig.get().runtime.choices
    return str(choices.optimizer).rsplit("/", 1)[-1]


OmegaConf.register_new_resolver("optlab_optimizer_name", _optimizer_name, replace=True)
OmegaConf.register_new_resolver("optlab_gpu_for_job", gpu_for_this_job, replace=True)


def _slurm_gpus(accelerator: str, devices: Any) -> int | None:
    """GPUs a SLURM job asks for (conf/hydra/launcher/slurm.yaml): the run's own, none for a CPU run."""
    if str(accelerator) not in ("gpu", "cuda"):
        return None
    return int(devices) if str(devices).isdigit() else 1


OmegaConf.register_new_resolver("optlab_slurm_gpus", _slurm_gpus, replace=True)


@hydra.main(version_base="1.3", config_path="pkg://optlab.conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the objective for Hydra's sweepers (RunSummary.objective: final validation
    accuracy, 0.0 for a run that diverged, failed or could not run)."""
    from optlab.training_run import is_global_zero, run_job, train  # deferred: see the module docstring

    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        summary = train(cfg)  # let the traceback through, for debugging
    else:
        summary = run_job(cfg)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun and is_global_zero():
        announce_run_end(Path(HydraConfig.get().runtime.output_dir), summary)
    if summary.status == Status.FAILED and not multirun:
        sys.exit(f"optlab: {summary.reason}")
    return summary.objective


if __name__ == "__main__":
    main()
