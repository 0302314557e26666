"""The Lightning callback through which a search trial reports to its Optuna trial and is pruned.

After every validation the run reports its validation accuracy (step = validations so far, one per epoch by
default: the pruner's resource is epochs) and asks the study's pruner whether to go on; when told to stop it
raises Pruned, which optlab.training_run records as status `pruned` (a finished run: resume leaves it).

optuna-integration's PyTorchLightningPruningCallback does the reporting too, but raises optuna.TrialPruned out of
trainer.fit, which a run would record as failed, and it opens no study of its own: a trial run by a Hydra launcher
in another process only has the storage's address and the trial's id, which is what this one takes. On resume
(a retried trial continues from its checkpoint) the epochs already reported are not reported again.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl


class Pruned(RuntimeError):
    """The pruner stopped this trial; the message says where and why."""


class TrialPruning(pl.Callback):
    def __init__(self, storage: str, study: str, id: int, pruner: Any, metric: str = "val/acc") -> None:
        self.storage_url = storage
        self.study_name = study
        self.trial_id = int(id)
        self.pruner = pruner
        self.metric = metric
        self._trial: Any = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not trainer.is_global_zero:  # rank 0 reports and decides; the others follow its decision
            return
        import optuna

        from optlab.tune.storage import open_storage

        study = optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage_url),
                                  pruner=self.pruner)
        self._trial = optuna.trial.Trial(study, self.trial_id)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        verdict = self._verdict(trainer) if trainer.is_global_zero else None
        verdict = trainer.strategy.broadcast(verdict, src=0)  # every DDP process stops, or none
        if verdict:
            raise Pruned(verdict)

    def _verdict(self, trainer: pl.Trainer) -> str | None:
        value = trainer.callback_metrics.get(self.metric)
        if value is None or self._trial is None:
            return None
        step = trainer.current_epoch + 1
        if step not in self._trial.storage.get_trial(self.trial_id).intermediate_values:
            self._trial.report(float(value), step)
        if not self._trial.should_prune():
            return None
        return (f"{self.metric} {float(value):.4f} after epoch {step} is behind the other trials' there "
                f"({type(self.pruner).__name__})")
