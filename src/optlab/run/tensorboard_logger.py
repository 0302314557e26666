"""Lightning's TensorBoardLogger without the wait it puts inside the training loop.

Lightning calls a logger's `save()` after every `log_metrics`, every `trainer.log_every_n_steps` steps, and the
TensorBoard logger's save flushes its SummaryWriter. Without TensorFlow installed, TensorBoard's writer is its
pure-Python fallback, whose flush is a join of the writer thread's queue: the training loop stops until every queued
event is checksummed and appended to the file (py-spy showed the loop blocked in `_AsyncWriter.flush`). Events
written are the same either way: this logger leaves them to the writer thread, which writes them as they come and
flushes every `flush_secs`, and the run's end (`finalize`) flushes and closes the file as Lightning's does.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's, but `save()` flushes and writes hparams.yaml only the first time it is called (at the start of
    fit, after the hyperparameters are logged); every later event reaches the file through the writer thread, within
    `flush_secs`, and all of them when the run ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # Lightning's own arguments, passed through
        super().__init__(*args, **kwargs)
        self._saved_once = False

    @rank_zero_only
    def save(self) -> None:
        if not self._saved_once:
            super().save()
            self._saved_once = True
