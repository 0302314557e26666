"""`hydra/launcher=slurm` (conf/hydra/launcher/slurm.yaml): Hydra's submitit SLURM launcher, with two changes for
people running sweeps on a cluster:

- SLURM's refusal of a submission (a wrong partition, an unknown account, a time limit above the partition's) is
  one line instead of a Python traceback (submitit has already printed sbatch's own words above it);
- a job that ended without a result (cancelled with scancel, killed, its node lost) no longer stops the wait for
  the others at the first one: every job is waited for, and each lost one is logged with its SLURM job id and
  state. The sweep then ends non-zero listing its run (optlab.report.multirun_callback), with the other runs and
  their report intact, and resume=true continues it from its checkpoint.

The submission is Hydra's (hydra-submitit-launcher 1.2's BaseSubmititLauncher.launch), written out here because
that method waits inside; each job still runs through Hydra's own BaseSubmititLauncher.__call__.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher

log = logging.getLogger(__name__)


class SlurmRefused(CompactHydraException):
    """sbatch refused the jobs; Hydra prints the message alone and exits non-zero."""


class SlurmLauncher(SubmititSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError

        try:
            jobs = self._submit(job_overrides, initial_job_idx)
        except FailedJobError as error:
            submission = error.__cause__
            if not (isinstance(submission, subprocess.CalledProcessError) and "sbatch" in str(submission.cmd)):
                raise
            said = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise SlurmRefused(f"SLURM refused the jobs ({said[-1] if said else 'sbatch failed'}): check "
                               f"hydra.launcher.partition, hydra.launcher.account and the limits in "
                               f"conf/hydra/launcher/slurm.yaml against `sinfo` and your site's rules") from None
        return [self._result(job, overrides) for job, overrides in zip(jobs, job_overrides, strict=True)]

    def _submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
        """The jobs as Hydra's submitit launch submits them (one job array, the same executor parameters, the same
        job arguments), kept: Hydra's launch returns [job.results()[0] for job in jobs], which raises at the first
        lost job."""
        import submitit
        from hydra.core.singleton import Singleton
        from hydra.core.utils import filter_overrides
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
        from omegaconf import OmegaConf

        assert self.config is not None
        params = dict(self.params)
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=params.pop("submitit_folder"),
                                         slurm_max_num_timeout=params.pop("max_num_timeout"))
        generic = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in generic else f"slurm_{k}": v for k, v in params.items()})
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info("SLURM sweep output dir: %s", self.config.hydra.sweep.dir)
        arguments = []
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
            arguments.append((list(overrides), "hydra.sweep.dir", number, f"job_id_for_{number}",
                              Singleton.get_state()))
        return executor.map_array(self, *zip(*arguments, strict=True))

    def _result(self, job: Any, overrides: Sequence[str]) -> JobReturn:
        """The job's JobReturn; for a job that ended without one, an error line naming it and an empty return
        (a failed JobReturn would make Hydra's sweeper raise at once, before the report and the list of what did
        not end well: the sweep's end lists its run folder, which holds no summary.json)."""
        from submitit.core.utils import UncompletedJobError

        try:
            return job.results()[0]
        except UncompletedJobError:
            log.error("SLURM job %s (%s) ended %s without a result; its log: %s", job.job_id, " ".join(overrides),
                      job.state, job.paths.stderr)
            return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=None)
