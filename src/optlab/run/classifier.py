"""The LightningModule: cross-entropy classification around any nn.Module, with the optimizer and LR schedule
taken from config (a partial optimizer, a scheduler node) and bound to the parameters in configure_optimizers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torch.optim import Optimizer

from optlab.optim.averaging import restore_weights, swap_in_averages, switch_to_evaluation, switch_to_training
from optlab.optim.zoo import needs_create_graph


class EpochMean:
    """A batch-size-weighted mean kept on the device: adding a batch costs one tensor op and no host sync.

    A plain object, not module attributes: every assignment to an nn.Module attribute goes through its slow
    __setattr__, once per step here.
    """

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.count = 0

    def reset(self) -> None:
        self.total, self.count = None, 0

    def add(self, value: torch.Tensor, weight: int) -> None:
        if self.total is None:
            self.total = value * weight
        else:
            self.total.add_(value, alpha=weight)
        self.count += weight

    def mean(self) -> torch.Tensor | None:
        return None if self.total is None else self.total / self.count


@dataclass(frozen=True)
class SchedulerSpec:
    """A `scheduler/*.yaml` choice: how to build the LR scheduler and how Lightning should step it."""

    lr_scheduler: Callable[..., Any] | None  # partial: optimizer (+ horizon) -> scheduler; None = constant lr
    interval: str  # "step" or "epoch"
    frequency: int
    monitor: str | None  # metric for ReduceLROnPlateau
    horizon_arg: str | None  # keyword that receives the run's length in scheduler steps


class Classifier(pl.LightningModule):
    def __init__(self, model: nn.Module, optimizer: Callable[..., Optimizer], scheduler: SchedulerSpec,
                 parameters: list[nn.Parameter] | None = None) -> None:
        """`parameters`: what the optimizer updates, in the order the model's layers run (optlab.models.contract);
        None: model.parameters()."""
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler = scheduler
        self.ordered_parameters = parameters
        self.best_val_acc = math.nan
        self.validated_step: int | None = None  # the optimizer step of the last validation (None: none yet)
        self.train_loss = EpochMean()  # kept here rather than by self.log each step: see _track_train_loss
        # L-BFGS calls training_step once per loss evaluation (its line search probes several points per step);
        # the step's loss is the first evaluation's, at the weights the step starts from.
        self.step_loss: torch.Tensor | None = None
        self.evaluated_batch: tuple[int, int] | None = None  # (epoch, batch_idx) of the last evaluation
        self.evaluations = 0  # loss evaluations this epoch
        self.steps = 0  # batches stepped this epoch
        self.trained_weights: dict[torch.Tensor, torch.Tensor] = {}  # held while ASGD's averages are evaluated
        self.evaluation_mode_parts: list[Optimizer] = []  # schedule-free optimizers in eval() during evaluation
        self.create_graph = False  # backward keeps the gradient's graph (set with the optimizer)
        self.class_counts: torch.Tensor | None = None  # per class, test images right and in all (2, classes)
        self.test_class_accuracy: list[float] = []  # of the last test, per class (NaN: no test image of it)

    def on_train_epoch_start(self) -> None:
        """Each epoch's training loss and evaluation count start from zero (a resumed run starts at an epoch)."""
        self.train_loss.reset()
        self.evaluations, self.steps = 0, 0

    def on_train_epoch_end(self) -> None:
        """Log the epoch's mean training loss and how many loss evaluations each step took."""
        mean = self.train_loss.mean()
        if mean is not None:
            # Shards hold equally many images under DDP, so the mean of the processes' means is the epoch's mean.
            self.log("train/loss_epoch", mean, on_epoch=True, sync_dist=True)
        if self.steps:
            self.log("train/evaluations_per_step", self.evaluations / self.steps, on_epoch=True)

    def on_validation_end(self) -> None:
        """Track the best validation accuracy over every validation of the run (several per epoch with
        trainer.val_check_interval); the epoch's metrics are aggregated by now, unlike in on_validation_epoch_end."""
        if self.trainer.sanity_checking:
            return
        self.validated_step = self.trainer.global_step
        accuracy = self.trainer.callback_metrics.get("val/acc")
        if accuracy is not None and self.trainer.state.fn in (TrainerFn.FITTING, TrainerFn.VALIDATING):
            previous = self.best_val_acc if math.isfinite(self.best_val_acc) else float(accuracy)
            self.best_val_acc = max(float(accuracy), previous)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["best_val_acc"] = self.best_val_acc

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best_val_acc = checkpoint.get("best_val_acc", math.nan)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self(images), labels)
        batch_key = (self.current_epoch, batch_idx)
        if batch_key != self.evaluated_batch:  # the step's first evaluation
            self.evaluated_batch = batch_key
            self.steps += 1
            self.step_loss = loss.detach()
            self._track_train_loss(self.step_loss, len(labels))
        self.evaluations += 1
        return loss

    def _track_train_loss(self, loss: torch.Tensor, batch_size: int) -> None:
        """Add the batch to the epoch's mean, and log the step's loss on the steps that loggers write.

        Lightning's self.log is Python work on every call (about 7% of the course CNN's step at batch 32 on a
        2-core CPU, by py-spy), so the step loss is logged only where Lightning writes step metrics (every
        trainer.log_every_n_steps, counted in optimizer steps) and the epoch mean is kept here instead of in
        Lightning's result collection.
        """
        self.train_loss.add(loss, batch_size)
        every = self.trainer.log_every_n_steps
        if (every and (self.global_step + 1) % every == 0) or self.trainer.should_stop:
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)

    def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        """Second-order optimizers (AdaHessian, Sophia-H from the zoo) differentiate the gradient again: keep its
        graph for them, and only for them (it costs memory)."""
        if self.create_graph:
            kwargs["create_graph"] = True
        super().backward(loss, *args, **kwargs)

    def _loss_and_logits(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        logits = self(images)
        return F.cross_entropy(logits, labels), logits

    def on_validation_epoch_start(self) -> None:
        self._evaluate_averaged_weights()

    def on_validation_epoch_end(self) -> None:
        self._restore_trained_weights()
        if self.trainer.sanity_checking:
            return
        # Where in training this validation happened, in epochs (1.5 = mid-way through the second epoch with
        # trainer.val_check_interval=0.5): the report's time to target reads it. After fit (validate_final_weights)
        # current_epoch already counts the last epoch as done.
        if self.trainer.state.fn == TrainerFn.FITTING:
            done = self.current_epoch + self.steps / self.trainer.num_training_batches
        else:
            done = self.current_epoch
        self.log("val/epoch", float(done), on_epoch=True, sync_dist=False, rank_zero_only=True)

    def on_test_epoch_start(self) -> None:
        self._evaluate_averaged_weights()
        self.class_counts = None

    def on_test_epoch_end(self) -> None:
        self._restore_trained_weights()
        if self.class_counts is not None:
            right, total = self.trainer.strategy.reduce(self.class_counts, reduce_op="sum").double()
            self.test_class_accuracy = (right / total).tolist()  # 0 / 0: NaN, a class with no test image

    def _evaluate_averaged_weights(self) -> None:
        """Averaging optimizers (ASGD, schedule-free) are evaluated with their averaged weights, as their theory
        intends."""
        for optimizer in self.trainer.optimizers:
            self.trained_weights.update(swap_in_averages(optimizer))
            self.evaluation_mode_parts += switch_to_evaluation(optimizer)

    def _restore_trained_weights(self) -> None:
        switch_to_training(self.evaluation_mode_parts)
        self.evaluation_mode_parts = []
        restore_weights(self.trained_weights)
        self.trained_weights = {}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._log_eval("val", batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        logits = self._log_eval("test", batch)
        self._count_per_class(logits, batch[1])

    def _count_per_class(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Right and total test images per class, summed on the device (the report's per-class accuracy)."""
        right = labels[logits.argmax(dim=1) == labels]
        counts = torch.stack([torch.bincount(right, minlength=logits.shape[1]),
                              torch.bincount(labels, minlength=logits.shape[1])])
        self.class_counts = counts if self.class_counts is None else self.class_counts + counts

    def _log_eval(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Log the batch's loss and accuracy; return its logits."""
        loss, logits = self._loss_and_logits(batch)
        accuracy = (logits.argmax(dim=1) == batch[1]).float().mean()
        size = len(batch[1])
        # Epoch means weighted by batch size, averaged across DDP processes.
        self.log(f"{stage}/loss", loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        self.log(f"{stage}/acc", accuracy, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        return logits

    def configure_optimizers(self) -> dict[str, Any]:
        parameters = self.ordered_parameters if self.ordered_parameters is not None else self.model.parameters()
        optimizer = self.optimizer_factory(params=parameters)
        self.create_graph = needs_create_graph(optimizer)
        spec = self.scheduler
        if spec.lr_scheduler is None:
            return {"optimizer": optimizer}
        horizon = {spec.horizon_arg: self._scheduler_horizon()} if spec.horizon_arg else {}
        scheduler = spec.lr_scheduler(optimizer, **horizon)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": spec.interval,
                "frequency": spec.frequency,
                "monitor": spec.monitor,
                "strict": True,
            },
        }

    def _scheduler_horizon(self) -> int:
        """How many times the scheduler will step in this run: batches for interval=step, else epochs."""
        if self.scheduler.interval == "step":
            return int(self.trainer.estimated_stepping_batches)
        return int(self.trainer.max_epochs)
