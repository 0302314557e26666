"""A callback the speed benchmark adds through config: stamps the wall-clock time of the first training step."""

import time
from pathlib import Path

import lightning.pytorch as pl


class FirstStepStamp(pl.Callback):
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == 0 and batch_idx == 0:
            self.path.write_text(repr(time.time()))
