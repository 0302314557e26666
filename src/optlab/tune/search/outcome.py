"""A trial's run, told to its Optuna study: the outcome optlab.train wrote in the run's summary.json.

Shared by hparams_search's sweeper and optlab.tune's workers. ok: the final validation accuracy; pruned: Optuna's
PRUNED; diverged, failed or skipped: 0.0, the worst value, so the sampler learns to avoid the setting (as the
summary's objective says). The status, reason, epochs trained, wall time and run folder go to the trial's user
attributes, where the tuning report and optuna-dashboard read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optlab.run.summary import RunSummary, Status

PRUNING_CALLBACK = "callbacks.trial_pruning"
# The objective's name in the storage, where optuna-dashboard and Optuna's plots read it (else "Objective 0").
OBJECTIVE_NAME = "val/acc (final; 0 if diverged, failed or skipped)"


def trial_overrides(storage_url: str, study_name: str, trial_id: int) -> list[str]:
    """What makes a run report to its trial: the pruning callback added to its config like any other callback (the
    pruner is the run's own pruner= choice), quoted for Hydra's parser."""
    key = f"+{PRUNING_CALLBACK}"
    return [f"{key}._target_=optlab.tune.search.pruning.TrialPruning", f"{key}.storage='{storage_url}'",
            f"{key}.study='{study_name}'", f"{key}.id={trial_id}", f"{key}.pruner='${{pruner}}'"]


def name_objective(study: Any) -> None:
    """Name the study's objective (written once: a study created or loaded with it already is left alone)."""
    if study.metric_names != [OBJECTIVE_NAME]:
        study.set_metric_names([OBJECTIVE_NAME])  # experimental in Optuna 5.1; open_storage silences that warning


def job_summary(job_return: Any) -> RunSummary | None:
    """The run's summary; None for a cluster job that ended without a result (hydra/launcher=slurm has logged
    which), whose trial is then recorded as failed. The job's own exception (a refused resume that stops the
    sweep) is raised here."""
    job_return.return_value  # noqa: B018 - raises what the job raised
    if job_return.hydra_cfg is None:
        return None
    return RunSummary.read(Path(job_return.hydra_cfg.hydra.runtime.output_dir))


def tell(study: Any, trial: Any, summary: RunSummary | None, wall_s: float, reused_from: Path | None = None
         ) -> None:
    """Record the run's outcome on its trial; a run reused from the cache (`reused_from`) trained nothing here: no
    epochs, no wall time, and the folder it came from."""
    import optuna

    status = summary.status if summary is not None else Status.FAILED
    trained = summary.epochs_trained if summary is not None and reused_from is None else 0.0
    attributes = {"status": str(status), "reason": summary.reason if summary else "the run wrote no summary.json",
                  "epochs": round(trained, 4), "wall_s": round(wall_s, 3),
                  "val_acc": summary.val_acc if summary else float("nan")}
    if reused_from is not None:
        attributes["reused_from"] = str(reused_from)
    for key, value in attributes.items():
        trial.set_user_attr(key, value)
    if status == Status.PRUNED:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, summary.objective if summary is not None else 0.0)
