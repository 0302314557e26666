"""The Lightning callback through which a search trial reports to its Optuna trial and is pruned.

A search adds it to the trial's run through the run's config (callbacks.trial_pruning, see
optlab.tune.search.outcome.trial_overrides), as any callback comes in. After every validation the run reports its
validation accuracy (step = epochs trained so far: the pruner's resource is epochs) and asks the study's pruner
whether to go on; when told to stop it raises Pruned, a StopRun that the run records as status `pruned` (a
finished run: resume leaves it).

optuna-integration's PyTorchLightningPruningCallback does the reporting too, but raises optuna.TrialPruned out of
trainer.fit, which a run would record as failed, and it opens no study of its own: a trial run by a Hydra launcher
in another process only has the storage's address and the trial's id, which is what this one takes. It talks to the
trial through the storage's public methods (set_trial_intermediate_value, get_trial) and the pruner's own
`prune(study, trial)`, which is what optuna.Trial.report and should_prune do. On resume (a retried trial continues
from its checkpoint) the epochs already reported are not reported again.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from optlab.run.callbacks import StopRun
from optlab.run.summary import Status


class Pruned(StopRun):
    """The pruner stopped this trial at the end of an epoch's validation; the message says where and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, Status.PRUNED, epoch_trained=True)


class TrialPruning(pl.Callback):
    def __init__(self, storage: str, study: str, id: int, pruner: Any, metric: str = "val/acc") -> None:
        self.storage_url = storage
        self.study_name = study
        self.trial_id = int(id)
        self.pruner = pruner
        self.metric = metric
        self._storage: Any = None
        self._study: Any = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not trainer.is_global_zero:  # rank 0 reports and decides; the others follow its decision
            return
        import optuna

        from optlab.tune.search.storage import open_storage

        self._storage = open_storage(self.storage_url)
        self._study = optuna.load_study(study_name=self.study_name, storage=self._storage, pruner=self.pruner)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        verdict = self._verdict(trainer) if trainer.is_global_zero else None
        verdict = trainer.strategy.broadcast(verdict, src=0)  # every DDP process stops, or none
        if verdict:
            raise Pruned(verdict)

    def _verdict(self, trainer: pl.Trainer) -> str | None:
        value = trainer.callback_metrics.get(self.metric)
        if value is None or self._study is None:
            return None
        storage = self._storage
        step = trainer.current_epoch + 1
        if step not in storage.get_trial(self.trial_id).intermediate_values:
            storage.set_trial_intermediate_value(self.trial_id, step, float(value))
        if not self.pruner.prune(self._study, storage.get_trial(self.trial_id)):
            return None
        return (f"{self.metric} {float(value):.4f} after epoch {step} is behind the other trials' there "
                f"({type(self.pruner).__name__})")
