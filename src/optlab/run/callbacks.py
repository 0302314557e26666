"""Lightning callbacks that optlab adds: epoch timing, divergence detection, per-epoch reseeding, the StopRun
signal a callback ends a run with, and the checkpoint callback under the name saved checkpoints know."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from optlab.data.seeding import epoch_seed
from optlab.run.summary import Status


def steps_per_epoch(trainer: pl.Trainer) -> int:
    """Optimizer steps in one epoch (its batches over gradient accumulation); 0 for data of unknown length."""
    batches = trainer.num_training_batches
    return math.ceil(batches / trainer.accumulate_grad_batches) if math.isfinite(batches) else 0


class EpochTimer(pl.Callback):
    """Logs `time/epoch_s` (one epoch, validation included), `time/val_s` (its validation), `time/elapsed_s`
    (since training started, at the epoch's end) and `time/val_elapsed_s` (the same, at each validation's end).

    The report plots loss against elapsed seconds: optimizers differ in cost per step, so epochs alone mislead.
    The validation time is measured apart so that its share of an epoch needs no second run to estimate. On a GPU
    the clock is read after the device has finished its queued work (one sync per validation and per epoch), so
    an epoch's time is the GPU's, not how far ahead the host got.
    """

    def __init__(self) -> None:
        self.fit_start = 0.0
        self.elapsed_before_resume = 0.0
        self.epoch_start = 0.0
        self.val_start = 0.0
        self.val_time = 0.0  # validation seconds within the current epoch
        self.epoch_times: list[float] = []
        self.val_times: list[float] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.fit_start = time.perf_counter() - self.elapsed_before_resume

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_start = time.perf_counter()
        self.val_time = 0.0

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.val_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:  # not a separate trainer.validate()
            now = finished_work_time(pl_module.device)
            self.val_time += now - self.val_start
            # When this validation's numbers were known: time to a target accuracy is read from it, also for
            # several validations per epoch (trainer.val_check_interval).
            pl_module.log("time/val_elapsed_s", now - self.fit_start, on_epoch=True, sync_dist=False,
                          rank_zero_only=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        now = finished_work_time(pl_module.device)
        self.epoch_times.append(now - self.epoch_start)
        self.val_times.append(self.val_time)
        for name, seconds in (("epoch_s", now - self.epoch_start), ("val_s", self.val_time),
                              ("elapsed_s", now - self.fit_start)):
            pl_module.log(f"time/{name}", seconds, on_epoch=True, sync_dist=False, rank_zero_only=True)

    @property
    def mean_epoch_time(self) -> float:
        return _mean(self.epoch_times)

    @property
    def mean_val_time(self) -> float:
        return _mean(self.val_times)

    def state_dict(self) -> dict[str, Any]:
        """Kept in checkpoints so a resumed run reports the time of all its epochs, not only the last ones."""
        return {"epoch_times": self.epoch_times, "val_times": self.val_times,
                "elapsed": time.perf_counter() - self.fit_start}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch_times = list(state_dict["epoch_times"])
        self.val_times = list(state_dict.get("val_times", []))
        self.elapsed_before_resume = state_dict["elapsed"]


def finished_work_time(device: torch.device) -> float:
    """time.perf_counter() once `device` has done all the work queued so far (at once on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


class StopRun(RuntimeError):
    """A callback's request to end this run early with another status than ok, its message the reason: how a
    search's pruner (optlab.tune.search.pruning, added through the run's config) stops a trial without the run
    knowing about searches. `epoch_trained`: raised after an epoch's validation, so that epoch counts as trained."""

    def __init__(self, reason: str, status: Status, epoch_trained: bool) -> None:
        super().__init__(reason)
        self.status = status
        self.epoch_trained = epoch_trained


class Diverged(RuntimeError):
    """Training loss became non-finite or exceeded the configured bound; `step` counts the optimizer steps taken,
    the one that produced the loss included. `elsewhere`: another DDP process saw it, this one's loss was fine."""

    def __init__(self, loss: float, step: int, epoch: int, elsewhere: bool = False) -> None:
        where = f"training loss {loss:g}" if not elsewhere else "training loss out of bounds on another process"
        super().__init__(f"{where} at step {step} (epoch {epoch})")
        self.loss = loss
        self.step = step
        self.epoch = epoch


class FirstBadLoss:
    """The first optimizer step whose loss was out of bounds (non-finite, or above max_loss) and that loss, kept as
    tensors on the loss's device: recording a step is a few small tensor ops and never waits for the device;
    read() is the one host sync, made as often as the caller chooses."""

    NONE = 2**62  # "no bad step yet": larger than any step, so the first bad step is the minimum

    def __init__(self, max_loss: float | None) -> None:
        self.max_loss = max_loss
        self.step: torch.Tensor | None = None
        self.loss: torch.Tensor | None = None

    def record(self, loss: torch.Tensor, step: int) -> None:
        # NaN compares false, so `loss <= max_loss` is false for NaN and +inf alike.
        in_bounds = torch.isfinite(loss) if self.max_loss is None else loss <= self.max_loss
        bad_step = torch.where(in_bounds, self.NONE, step)
        if self.step is None:
            self.step, self.loss = bad_step, loss.detach().clone()
            return
        earlier = bad_step < self.step
        self.step = torch.where(earlier, bad_step, self.step)
        self.loss = torch.where(earlier, loss.detach(), self.loss)

    def check_now(self, loss: torch.Tensor, step: int) -> tuple[int, float] | None:
        """(step, loss) if this step's loss is out of bounds, else None: the record and its read in one, for a
        caller that reads every step anyway (on a CPU one host read is cheaper than record()'s tensor ops). The
        same rule as record(), on the host."""
        value = float(loss)
        in_bounds = math.isfinite(value) if self.max_loss is None else value <= self.max_loss
        return None if in_bounds else (step, value)

    def read(self) -> tuple[int, float] | None:
        """(step, loss) of the first bad step recorded so far, or None."""
        if self.step is None:
            return None
        step = int(self.step)
        return None if step == self.NONE else (step, float(self.loss))


class DivergenceGuard(pl.Callback):
    """Stops a run when its training loss is non-finite or above max_loss, naming the first step where it was.

    Every step's loss is recorded on its device (FirstBadLoss); the host reads the record every
    check_every_n_steps and at the last batch of every epoch, so a GPU does not wait for the host on other steps
    (null: every step on a CPU, where reading costs nothing, every GPU_CHECK_EVERY steps on an accelerator). Read
    every step, the record is skipped: the step's loss is read directly (check_now). The
    decision is agreed across DDP processes: one process out of bounds stops them all. The loss checked is the
    step's first evaluation (Classifier.step_loss), not the last: L-BFGS's line search probes points it then
    rejects, and a huge probe is not a diverged run.
    """

    GPU_CHECK_EVERY = 50

    def __init__(self, max_loss: float | None, check_every_n_steps: int | None) -> None:
        self.max_loss = max_loss
        self.check_every_n_steps = check_every_n_steps
        self.every = check_every_n_steps or 1
        self.first_bad = FirstBadLoss(max_loss)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        on_cpu = trainer.strategy.root_device.type == "cpu"
        self.every = self.check_every_n_steps or (1 if on_cpu else self.GPU_CHECK_EVERY)
        self.first_bad = FirstBadLoss(self.max_loss)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if pl_module.step_loss is None:
            return
        if self.every == 1:
            found = self.first_bad.check_now(pl_module.step_loss, trainer.global_step)
        else:
            self.first_bad.record(pl_module.step_loss, trainer.global_step)
            last_of_epoch = batch_idx + 1 >= trainer.num_training_batches
            if trainer.global_step % self.every and not last_of_epoch:
                return
            found = self.first_bad.read()
        # Every process decides together (as EarlyStopping does): under DDP a process that stopped alone would
        # leave the others waiting on a collective (a closed socket on gloo, a hang on NCCL).
        if trainer.strategy.reduce_boolean_decision(found is not None, all=False):
            step, loss = found if found is not None else (trainer.global_step, math.nan)
            raise Diverged(loss, step, trainer.current_epoch, elsewhere=found is None)


class ReseedEachEpoch(pl.Callback):
    """Seeds torch's RNG from (seed, epoch) before the first batch of every training epoch.

    Augmentation and dropout then depend only on the seed and the epoch number, not on how many random numbers
    earlier epochs drew, so a run resumed from an epoch-end checkpoint continues exactly as an uninterrupted one.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Nothing draws from torch's global RNG between here and the first batch: the training DataLoader takes its
        # base seed from a generator of its own (optlab.data.datamodule), not from the global RNG when its iterator
        # is made.
        torch.manual_seed(epoch_seed(self.seed, trainer.current_epoch))


class EpochCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, unchanged, under the name optlab's configs and checkpoints use.

    Lightning stores a callback's state in a checkpoint under its state_key, which starts with the class name:
    every last.ckpt written so far holds this callback's state under `EpochCheckpoint{...}`, and a plain
    ModelCheckpoint would not find it on resume.

    It used to override state_key with a cached copy, as Lightning formats the key into a profiler section name on
    each of six callback hooks per step: about 3 us a hook on a 2-core CPU, some 0.3% of the course CNN's
    batch-32 step, below what that machine resolves. Overriding a Lightning property for that was not worth it.
    """
