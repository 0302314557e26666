"""`hydra/launcher=slurm` (conf/hydra/launcher/slurm.yaml): Hydra's submitit SLURM launcher, with two changes for
people running sweeps on a cluster:

- SLURM's refusal of a submission (a wrong partition, an unknown account, a time limit above the partition's) is
  one line instead of a Python traceback (submitit has already printed sbatch's own words above it);
- a job that ended without a result (cancelled with scancel, killed, its node lost) no longer stops the wait for
  the others at the first one: every job is waited for, and each lost one is logged with its SLURM job id and
  state. The sweep then ends non-zero listing its run (optlab.report.multirun_callback), with the other runs and
  their report intact, and resume=true continues it from its checkpoint.

Why the submission is copied here rather than inherited: hydra-submitit-launcher's BaseSubmititLauncher.launch
(1.2.0, as on Hydra's main branch) builds the executor, submits the job array and waits in one method, ending with
`[j.results()[0] for j in jobs]`, which raises at the first job that ended without a result; it has no smaller
method to override and hands back no job. Upstream: facebookresearch/hydra#1377 ("Support partial failures", closed
by #1465) made a job that raises come back as a failed JobReturn, but a job SLURM killed still raises in that line;
hydra#2479 (open) asks for a launch that does not wait, which a maintainer answered would need a change to Hydra's
sweeper API. So SlurmLauncher.submit repeats Hydra's submission (one job array, the same executor parameters, the
same arguments to BaseSubmititLauncher.__call__, which still runs each job), in this module only.
tests/test_library_workarounds.py checks the copy against the installed launcher and fails when its launch changes.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher

if TYPE_CHECKING:
    import submitit

log = logging.getLogger(__name__)

CLUSTER = "slurm"  # submitit's name for its SLURM executor, the one Hydra's SlurmLauncher builds
# Launcher keys that submitit takes when the executor is built, not through update_parameters, and their names there.
INIT_KEYS = {"submitit_folder": "folder", "max_num_timeout": f"{CLUSTER}_max_num_timeout"}


class SlurmRefused(CompactHydraException):
    """sbatch refused the jobs; Hydra prints the message alone and exits non-zero."""


class SlurmLauncher(SubmititSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError

        try:
            jobs = self.submit(job_overrides, initial_job_idx)
        except FailedJobError as error:
            if not refused_by_sbatch(error):
                raise
            raise SlurmRefused(refusal_message(error)) from None
        return [result(job, overrides) for job, overrides in zip(jobs, job_overrides, strict=True)]

    def submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[submitit.Job]:
        """The jobs as Hydra's launch submits them, without its wait (see the module's docstring)."""
        assert self.config is not None
        executor = slurm_executor(self.params)
        prepare_sweep_dir(Path(str(self.config.hydra.sweep.dir)), self.config.hydra.sweep.get("mode"))
        arguments = job_arguments(job_overrides, initial_job_idx)
        return executor.map_array(self, *zip(*arguments, strict=True))


def slurm_executor(params: Mapping[str, Any]) -> submitit.AutoExecutor:
    """submitit's executor as Hydra's launch configures it from hydra.launcher: the INIT_KEYS when it is built,
    the queue keys every submitit executor knows (BaseQueueConf) by their own names, the rest with `slurm_`."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    init = {name: params[key] for key, name in INIT_KEYS.items()}
    executor = submitit.AutoExecutor(cluster=CLUSTER, **init)
    generic = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in generic else f"{CLUSTER}_{key}": value
                                  for key, value in params.items() if key not in INIT_KEYS})
    return executor


def prepare_sweep_dir(sweep_dir: Path, mode: str | int | None) -> None:
    """The sweep folder, with hydra.sweep.mode's permissions where that is set (as Hydra's launch does)."""
    log.info("SLURM sweep output dir: %s", sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if mode is not None:
        os.chmod(sweep_dir, mode=int(str(mode), 8))


def job_arguments(job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[tuple[Any, ...]]:
    """For each job, the positional arguments Hydra's launch gives BaseSubmititLauncher.__call__ (sweep_overrides,
    job_dir_key, job_num, job_id, singleton_state); each job's line logged as Hydra logs it."""
    from hydra.core.singleton import Singleton
    from hydra.core.utils import filter_overrides

    arguments = []
    for number, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
        arguments.append((list(overrides), "hydra.sweep.dir", number, f"job_id_for_{number}", Singleton.get_state()))
    return arguments


def refused_by_sbatch(error: Exception) -> bool:
    """Whether a submission error is sbatch's refusal: submitit raises FailedJobError from sbatch's failed call."""
    submission = error.__cause__
    return isinstance(submission, subprocess.CalledProcessError) and "sbatch" in str(submission.cmd)


def refusal_message(error: Exception) -> str:
    """One line: sbatch's last words (submitit puts its stderr in the error) and where to look."""
    said = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (f"SLURM refused the jobs ({said[-1] if said else 'sbatch failed'}): check hydra.launcher.partition, "
            f"hydra.launcher.account and the limits in conf/hydra/launcher/slurm.yaml against `sinfo` and your "
            f"site's rules")


def result(job: submitit.Job, overrides: Sequence[str]) -> JobReturn:
    """The job's JobReturn; for a job that ended without one, an error line naming it and an empty return
    (a failed JobReturn would make Hydra's sweeper raise at once, before the report and the list of what did
    not end well: the sweep's end lists its run folder, which holds no summary.json)."""
    from submitit.core.utils import UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError:
        log.error("SLURM job %s (%s) ended %s without a result; its log: %s", job.job_id, " ".join(overrides),
                  job.state, job.paths.stderr)
        return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
