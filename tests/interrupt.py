"""A callback that interrupts training as Ctrl-C would, after a given epoch (used through config in tests)."""

import lightning.pytorch as pl


class InterruptAfterEpoch(pl.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt
