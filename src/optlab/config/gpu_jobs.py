"""Which GPU a job of a multirun trains on: job k on GPU k mod (GPUs visible), so that the parallel jobs of a
sweep (the joblib launcher's n_jobs) spread over a machine's GPUs instead of all sharing the first."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig

from optlab.config.run_mode import is_multirun


def devices_for_job(job_num: int | None, gpu_count: int) -> int | list[int]:
    """Lightning's `devices` for a one-GPU job: [index] in a multirun on a machine with several GPUs, else 1 (the
    first visible GPU; CUDA_VISIBLE_DEVICES still chooses which that is)."""
    if job_num is None or gpu_count <= 1:
        return 1
    return [job_num % gpu_count]


def gpu_for_this_job() -> int | list[int]:
    """The resolver behind conf/device/gpu.yaml's `devices` (optlab.config.resolvers)."""
    import torch  # only here: optlab.train imports no torch in the launching process

    hydra = HydraConfig.get()
    job_num = hydra.job.num if is_multirun() else None
    return devices_for_job(job_num, torch.cuda.device_count())
