"""A callback that makes any GPU-to-host sync an error during the training steps where none should happen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig

from optlab.run.callbacks import DivergenceGuard


class ForbidHostSyncs(pl.Callback):
    """Between on_train_batch_start and the end of the step, on quiet steps (not the first two of an epoch, which
    build optimizer state and draw the epoch's indices, not a divergence check, not a logged step, not an epoch's
    last), torch raises on any sync. Writes how many quiet steps were checked to <run>/quiet_steps."""

    def __init__(self) -> None:
        self.quiet_steps = 0

    def _quiet(self, trainer: pl.Trainer, batch_idx: int) -> bool:
        step = trainer.global_step + 1  # the step this batch makes
        guard = next(cb for cb in trainer.callbacks if isinstance(cb, DivergenceGuard))
        return (batch_idx >= 2 and batch_idx + 1 < trainer.num_training_batches and step % guard.every != 0
                and step % trainer.log_every_n_steps != 0)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self._quiet(trainer, batch_idx):
            self.quiet_steps += 1
            torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        torch.cuda.set_sync_debug_mode("default")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        Path(HydraConfig.get().runtime.output_dir, "quiet_steps").write_text(f"{self.quiet_steps}\n")
