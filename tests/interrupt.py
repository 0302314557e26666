"""Interrupting a run as Ctrl-C would, after a given epoch, without changing its config (resume compares configs)."""

import lightning.pytorch as pl
import pytest

import optlab.run.job


class InterruptAfterEpoch(pl.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


def interrupt_after_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """The next train() gets an extra callback that stops it after `epoch`; monkeypatch.undo() removes it."""
    build = optlab.run.job.build_callbacks
    monkeypatch.setattr(optlab.run.job, "build_callbacks",
                        lambda cfg, **kwargs: {**build(cfg, **kwargs), "stop": InterruptAfterEpoch(epoch)})
