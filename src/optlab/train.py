"""The command line: `python -m optlab.train [overrides]` for one run, `-m` for a sweep (see conf/train.yaml).

Only Hydra is imported here; torch and Lightning (about 5 s of imports on a 2-core CPU) are imported when a job
starts. A sweep's launcher process then never pays for them: with the joblib launcher it only hands jobs to its
workers, and Hydra's own errors (an unknown option or group) come before any of that. optlab's config checks
(optlab.config.checks) run at the start of each job. optlab's sweepers and launcher are found by Hydra's plugin
scan (src/hydra_plugins); its resolvers are registered by main(), before Hydra composes the config.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from optlab.config.compose import hydra_command
from optlab.config.run_mode import is_multirun


def run(cfg: DictConfig) -> float:
    """One job; returns the objective for Hydra's sweepers (RunSummary.objective: final validation accuracy, 0.0 for
    a run that diverged, failed or could not run)."""
    from optlab.run.job import is_global_zero, run_job, train  # deferred: see the module docstring
    from optlab.run.summary import Status
    from optlab.run.sweep_progress import announce_run_end

    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        summary = train(cfg)  # let the traceback through, for debugging
    else:
        summary = run_job(cfg)
    multirun = is_multirun()
    if multirun and is_global_zero():
        announce_run_end(Path(HydraConfig.get().runtime.output_dir), summary)
    if summary.status == Status.FAILED and not multirun:
        sys.exit(f"optlab: {summary.reason}")
    return summary.objective


def main() -> None:
    """The `optlab-train` console script and `python -m optlab.train`."""
    hydra_command(run, "train")


if __name__ == "__main__":
    main()
