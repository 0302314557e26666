"""The loops optlab's epoch is compared with, each clocking its own epochs: an independent bare PyTorch loop on
preloaded tensors (the floor under any tool), a minimal LightningModule on the same batches (Lightning's own floor)
and the course students' torchvision+PIL DataLoader loop. Each trains a Setting: the images, split, normalisation,
model and optimizer of the optlab run it is compared with.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import Setting


def synchronize(device: str) -> None:
    """Waits for the device's queued kernels, so that a clock read afterwards includes them."""
    if device == "cuda":
        torch.cuda.synchronize()


def channels(values: Sequence[float], device: str | torch.device = "cpu") -> torch.Tensor:
    """Per-channel values shaped to broadcast over (N, C, H, W) batches."""
    return torch.tensor(values, device=device).view(1, -1, 1, 1)


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images as the network sees them, written the plain way (optlab folds it into one multiply-add)."""
    return (images.float() / 255 - mean) / std


# ---- the independent bare loop: preloaded uint8 tensors, normalised per batch ---------------------------------------


def bare_loop_epochs(setting: Setting, batch: int, device: str, epochs: int) -> list[float]:
    model = setting.new_model().to(device)
    optimizer = setting.new_optimizer(model.parameters())
    mean, std = channels(setting.mean, device), channels(setting.std, device)
    (x_train, y_train), (x_val, y_val) = [(x.to(device), y.to(device)) for x, y in (setting.train, setting.val)]
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(y_train), device=device).split(batch):
            loss = F.cross_entropy(model(normalise(x_train[idx], mean, std)), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for first in range(0, len(y_val), setting.eval_batch_size):
                part = slice(first, first + setting.eval_batch_size)
                F.cross_entropy(model(normalise(x_val[part], mean, std)), y_val[part])
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


# ---- Lightning's own floor: a minimal LightningModule on the same preloaded batches -------------------------------


class ShuffledBatches:
    """The bare loop's batches as an iterable Lightning can train on: a new permutation every epoch."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch: int, shuffle: bool) -> None:
        self.images, self.labels, self.batch, self.shuffle = images, labels, batch, shuffle

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.labels)) if self.shuffle else torch.arange(len(self.labels))
        for idx in order.split(self.batch):
            yield self.images[idx], self.labels[idx]

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch)


class MinimalModule(pl.LightningModule):
    """No logging, no callbacks, no progress bar: what Lightning's loop itself costs per step."""

    def __init__(self, setting: Setting) -> None:
        super().__init__()
        self.model = setting.new_model()
        self.new_optimizer = setting.new_optimizer
        self.register_buffer("mean", channels(setting.mean))
        self.register_buffer("std", channels(setting.std))

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(self.model(normalise(images, self.mean, self.std)), labels)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._loss(batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.new_optimizer(self.model.parameters())


class EpochClock(pl.Callback):
    """Each training epoch's seconds (validation included, as in the other loops), after the device finished."""

    def __init__(self, device: str) -> None:
        self.device, self.start, self.times = device, 0.0, []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        synchronize(self.device)
        self.times.append(time.perf_counter() - self.start)


def minimal_lightning_epochs(setting: Setting, batch: int, device: str, epochs: int) -> list[float]:
    (x_train, y_train), (x_val, y_val) = [(x.to(device), y.to(device)) for x, y in (setting.train, setting.val)]
    module = MinimalModule(setting)  # resident data, as in the bare loop
    for name in ("lightning.pytorch", "lightning.fabric"):  # no "GPU available" lines in the harness's table
        logging.getLogger(name).setLevel(logging.WARNING)
    clock = EpochClock(device)
    with warnings.catch_warnings():  # Lightning's advice on workers, SLURM and deprecations
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(max_epochs=epochs, accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0, callbacks=[clock])
        trainer.fit(module, ShuffledBatches(x_train, y_train, batch, shuffle=True),
                    ShuffledBatches(x_val, y_val, setting.eval_batch_size, shuffle=False))
    return clock.times


# ---- the course students' loop: torchvision transforms on PIL images, one by one, through a DataLoader -------------


class PILImages(Dataset):
    """What torchvision's CIFAR10 dataset does for each image: a PIL image from its (H, W, C) uint8 array, then the
    transform. Over the setting's split images, so that the files are read once and the split is optlab's."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.images: np.ndarray = images.permute(0, 2, 3, 1).contiguous().numpy()  # as torchvision holds CIFAR-10
        self.labels: list[int] = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[index])), self.labels[index]


def pil_loop_epoch(setting: Setting, batch: int) -> float:
    """One epoch of the torchvision+PIL loop, on the CPU: its per-epoch cost is decoding, which start-up does not
    change."""
    transform = T.Compose([T.ToTensor(), T.Normalize(setting.mean, setting.std)])
    train, val = (PILImages(images, labels, transform) for images, labels in (setting.train, setting.val))
    model = setting.new_model()
    optimizer = setting.new_optimizer(model.parameters())
    start = time.perf_counter()
    model.train()
    for images, labels in DataLoader(train, batch_size=batch, shuffle=True):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for images, labels in DataLoader(val, batch_size=setting.eval_batch_size):
            F.cross_entropy(model(images), labels)
    return time.perf_counter() - start
