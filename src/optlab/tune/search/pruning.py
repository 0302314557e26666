"""The Lightning callback through which a search trial reports to its Optuna trial and is pruned.

A search adds it to the trial's run through the run's config (callbacks.trial_pruning, see
optlab.tune.search.outcome.trial_overrides), as any callback comes in. After every validation the run reports its
validation accuracy and asks the study's pruner whether to go on; when told to stop it raises Pruned, a StopRun
that the run records as status `pruned` (a finished run: resume leaves it).

The pruner's resource is the rung: 1/rungs_per_epoch of an epoch's optimizer steps (optlab.tune validates its
search trials that often, trainer.val_check_interval = 1/rungs_per_epoch), so ASHA's first cut can fall a third of
an epoch in instead of after a whole one. A report's step is the rung the run's steps have reached, rounded, so it is
the same number after a resume from the epoch's checkpoint as in a run never stopped. rungs_per_epoch=1: one rung
per epoch, reported at its end (a plain hparams_search sweep).

optuna-integration's PyTorchLightningPruningCallback does the reporting too, but raises optuna.TrialPruned out of
trainer.fit, which a run would record as failed, and it opens no study of its own: a trial run by a Hydra launcher
in another process only has the storage's address and the trial's id, which is what this one takes. It talks to the
trial through the storage's public methods (set_trial_intermediate_value, get_trial) and the pruner's own
`prune(study, trial)`, which is what optuna.Trial.report and should_prune do. On resume (a retried trial continues
from its checkpoint) the rungs already reported are not reported again. A storage away for a moment (its server
restarting) costs the rungs it misses, with a warning, not the run.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn

from optlab.files import first_line
from optlab.run.callbacks import StopRun, steps_per_epoch
from optlab.run.summary import Status, epochs_text

log = logging.getLogger(__name__)


class Pruned(StopRun):
    """The pruner stopped this trial at the end of an epoch's validation; the message says where and why."""

    def __init__(self, reason: str, at_epoch_end: bool) -> None:
        super().__init__(reason, Status.PRUNED, epoch_trained=at_epoch_end)


class TrialPruning(pl.Callback):
    def __init__(self, storage: str, study: str, id: int, pruner: Any, metric: str = "val/acc",
                 rungs_per_epoch: int = 1) -> None:
        self.storage_url = storage
        self.rungs_per_epoch = int(rungs_per_epoch)
        self.study_name = study
        self.trial_id = int(id)
        self.pruner = pruner
        self.metric = metric
        self._storage: Any = None
        self._study: Any = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:  # rank 0 reports and decides; the others follow its decision
            self._connect()

    def _connect(self) -> bool:
        """The trial's study, opened once; False while its storage is away (its server restarting): the run goes on
        and reports at the next rung that finds it back, rather than ending as failed over the storage's outage."""
        import optuna
        from sqlalchemy.exc import SQLAlchemyError

        from optlab.tune.search.storage import StorageError, open_storage

        if self._study is None:
            with contextlib.suppress(StorageError, SQLAlchemyError):
                self._storage = open_storage(self.storage_url)
                self._study = optuna.load_study(study_name=self.study_name, storage=self._storage, pruner=self.pruner)
        return self._study is not None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:  # not the final weights' own check
            return
        rung = self.rung(trainer)
        verdict = self._verdict(trainer, rung) if trainer.is_global_zero else None
        verdict = trainer.strategy.broadcast(verdict, src=0)  # every DDP process stops, or none
        if verdict:
            raise Pruned(verdict, at_epoch_end=rung % self.rungs_per_epoch == 0)

    def rung(self, trainer: pl.Trainer) -> int:
        """The rungs the run's optimizer steps have reached: rungs_per_epoch per epoch, rounded (Lightning validates
        every int(batches / rungs_per_epoch) batches, a little before the exact fraction when that does not divide)."""
        return round(self.rungs_per_epoch * trainer.global_step / max(1, steps_per_epoch(trainer)))

    def _verdict(self, trainer: pl.Trainer, rung: int) -> str | None:
        from optuna.exceptions import StorageInternalError
        from sqlalchemy.exc import SQLAlchemyError

        value = trainer.callback_metrics.get(self.metric)
        if value is None or not self._connect():
            return None
        storage = self._storage
        try:
            if rung not in storage.get_trial(self.trial_id).intermediate_values:
                storage.set_trial_intermediate_value(self.trial_id, rung, float(value))
            if not self.pruner.prune(self._study, storage.get_trial(self.trial_id)):
                return None
        except (SQLAlchemyError, StorageInternalError) as error:  # away for a moment: the run goes on
            log.warning("trial %d: no report at rung %d, its storage is away (%s); the run goes on", self.trial_id,
                        rung, first_line(error))
            return None
        return (f"{self.metric} {float(value):.4f} after {epochs_text(rung / self.rungs_per_epoch)} is behind the "
                f"other trials' there ({type(self.pruner).__name__})")
