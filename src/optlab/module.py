"""The LightningModule: cross-entropy classification around any nn.Module, with the optimizer and LR schedule
taken from config (a partial optimizer, a scheduler node) and bound to the parameters in configure_optimizers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer


@dataclass(frozen=True)
class SchedulerSpec:
    """A `scheduler/*.yaml` choice: how to build the LR scheduler and how Lightning should step it."""

    lr_scheduler: Callable[..., Any] | None  # partial: optimizer (+ horizon) -> scheduler; None = constant lr
    interval: str  # "step" or "epoch"
    frequency: int
    monitor: str | None  # metric for ReduceLROnPlateau
    horizon_arg: str | None  # keyword that receives the run's length in scheduler steps


class Classifier(pl.LightningModule):
    def __init__(self, model: nn.Module, optimizer: Callable[..., Optimizer], scheduler: SchedulerSpec) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler = scheduler
        self.best_val_acc = math.nan

    def on_train_epoch_end(self) -> None:
        """Track the best validation accuracy (Lightning has run this epoch's validation by now)."""
        accuracy = self.trainer.callback_metrics.get("val/acc")
        if accuracy is not None:
            self.best_val_acc = max(float(accuracy), self.best_val_acc) if math.isfinite(self.best_val_acc) else float(accuracy)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["best_val_acc"] = self.best_val_acc

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best_val_acc = checkpoint.get("best_val_acc", math.nan)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def _loss_and_accuracy(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return loss, accuracy

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss_and_accuracy(batch)
        # Logged as tensors: Lightning moves them to the host only every log_every_n_steps.
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch[1]))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._log_eval("val", batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._log_eval("test", batch)

    def _log_eval(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        loss, accuracy = self._loss_and_accuracy(batch)
        size = len(batch[1])
        # Epoch means weighted by batch size, averaged across DDP processes.
        self.log(f"{stage}/loss", loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        self.log(f"{stage}/acc", accuracy, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(params=self.model.parameters())
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
