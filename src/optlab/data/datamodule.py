"""The LightningDataModule: in-memory uint8 images, batched by index, normalised and augmented per batch.

Why not torchvision transforms + a DataLoader over samples: on a 2-core CPU a small CNN then spends most of
its time in PIL and in collating single images. Here a batch is one tensor slice; normalisation is one
multiply-add on the batch after it reaches the device. On a GPU the images live there (data.resident): a batch
is an index gather on the device, with no per-batch copy from the host.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset, Sampler

from optlab.data.augment import random_crop_and_flip
from optlab.data.seeding import epoch_seed
from optlab.data.sources import DataError, load_once

log = logging.getLogger(__name__)


def channel_statistics(images: torch.Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images (N, C, H, W), as fractions of 255.

    In chunks of images, summed in float64: a float copy of all of SVHN's training images would take 2.8 GB.
    """
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for part in images.split(chunk):
        values = part.to(torch.float64).div_(255.0)
        total += values.sum(dim=(0, 2, 3))
        squares += values.square_().sum(dim=(0, 2, 3))
    count = images.numel() // channels
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    if (std == 0).any():
        raise DataError("every training image has the same value in a channel (its std is 0): normalising by it "
                        "would divide by zero; set data.mean and data.std")
    return mean.tolist(), std.tolist()


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(v, 4) for v in values]


class IndexedImages(Dataset):
    """Images and labels fetched a whole batch at a time: dataset[index_tensor] -> (images, labels)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[indices], self.labels[indices]

    def to(self, device: torch.device) -> IndexedImages:
        """The same images and labels on `device` (themselves when already there)."""
        return IndexedImages(self.images.to(device), self.labels.to(device))


class ShardedBatches(Sampler[torch.Tensor]):
    """Yields index tensors, one per batch; reshuffled each epoch from (seed, epoch), sharded across processes.

    The order depends only on the seed and the epoch number, so a run resumed at epoch k sees the same batches
    as one that never stopped. Under DDP every process draws the same permutation and takes every world_size-th
    index (the tail that does not divide evenly is dropped so that all processes run the same number of steps).
    With drop_last the epoch's last, smaller batch is left out (a reshuffled epoch draws those images again as
    likely as any others). The order is drawn on the CPU whatever the device, so a GPU run sees the same batches as
    a CPU run; with `device` the epoch's indices go there in one copy, and each batch is a slice of them (no copy
    per batch).
    """

    def __init__(
        self, size: int, batch_size: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1,
        device: torch.device | None = None, drop_last: bool = False,
    ) -> None:
        self.size = size
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.device = device
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def _indices(self) -> torch.Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.arange(self.size)
        usable = self.size - self.size % self.world_size
        return order[self.rank : usable : self.world_size]

    def __iter__(self) -> Iterator[torch.Tensor]:
        # A generator, so the order is drawn at the first next(), not at iter(): on resume Lightning creates the
        # iterator before it calls set_epoch (FitLoop.setup_data), and an eager order would be the wrong epoch's.
        # (Worker processes, num_workers > 0, draw eagerly; with in-memory data they bring nothing anyway.)
        indices = self._indices()
        if self.drop_last:
            indices = indices[: len(indices) - len(indices) % self.batch_size]
        if self.device is not None:
            indices = indices.to(self.device)
        yield from indices.split(self.batch_size)

    def __len__(self) -> int:
        per_process = self.size // self.world_size
        if self.drop_last:
            return per_process // self.batch_size
        return -(-per_process // self.batch_size)


class ImageDataModule(pl.LightningDataModule):
    """Any image classification source, split into train / validation (held out of train) / test."""

    def __init__(
        self,
        name: str,
        source,
        batch_size: int,
        eval_batch_size: int,
        train_size: int | None,
        val_size: int | float,
        split_seed: int,
        shuffle_seed: int,
        augment: bool,
        crop_padding: int,
        hflip: bool,
        num_workers: int,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
        resident: bool | str = "auto",
        drop_last: bool = False,
        root: str | None = None,
        download: bool | None = None,
        verify: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.source = source
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.train_size = train_size
        self.val_size = val_size
        self.split_seed = split_seed
        self.shuffle_seed = shuffle_seed
        self.augment = augment
        self.crop_padding = crop_padding
        self.hflip = hflip
        self.num_workers = num_workers
        self.mean = None if mean is None else list(mean)
        self.std = None if std is None else list(std)
        self.resident = resident
        self.drop_last = drop_last
        given = ", ".join(f"{k}={v}" for k, v in (("download", download), ("verify", verify)) if v is not None)
        self.origin = "built in" if root is None else f"{root} ({given})" if given else str(root)
        self.parts: dict[str, IndexedImages] = {}
        self.augment_generator: tuple[int, torch.Generator] | None = None  # (epoch, generator)
        self.num_classes = 0
        self.class_names: list[str] = []
        self.input_shape: tuple[int, int, int] = (0, 0, 0)

    def prepare_data(self) -> None:
        """Download in one process only, as Lightning asks; setup() reads the files in every process."""
        self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.parts:
            return
        splits = load_once(self.source)
        train_idx, val_idx = self._split(len(splits.train_labels))
        self.parts = {
            "train": IndexedImages(splits.train_images[train_idx], splits.train_labels[train_idx]),
            "val": IndexedImages(splits.train_images[val_idx], splits.train_labels[val_idx]),
            "test": IndexedImages(splits.test_images, splits.test_labels),
        }
        self.num_classes = splits.num_classes
        self.class_names = list(splits.class_names) or [str(label) for label in range(splits.num_classes)]
        self.input_shape = tuple(splits.train_images.shape[1:])
        self._set_normalisation()
        log.info(
            "data %s from %s: %d train, %d val (held out of train), %d test, shape %s",
            self.name, self.origin, len(train_idx), len(val_idx), len(splits.test_labels), self.input_shape,
        )

    def _split(self, available: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Validation images are held out of the training set with a fixed seed: the same for every run.
        data.val_size is a number of images, or a fraction of the training images when below 1 (a user's folder
        of unknown size)."""
        val_size = round(self.val_size * available) if isinstance(self.val_size, float) else self.val_size
        if not 0 < val_size < available:
            raise DataError(
                f"data.val_size={self.val_size} must leave between 1 and {available - 1} images for validation: "
                f"{self.name} has {available} training images"
            )
        order = torch.randperm(available, generator=torch.Generator().manual_seed(self.split_seed))
        val_idx, train_idx = order[:val_size], order[val_size:]
        if self.train_size is not None:
            if not 0 < self.train_size <= len(train_idx):
                raise DataError(
                    f"data.train_size={self.train_size} must be between 1 and {len(train_idx)} "
                    f"({available} {self.name} training images minus data.val_size={self.val_size}); "
                    "null uses them all"
                )
            train_idx = train_idx[: self.train_size]
        return train_idx, val_idx

    def _set_normalisation(self) -> None:
        channels = self.input_shape[0]
        if self.mean is None or self.std is None:
            self.mean, self.std = channel_statistics(self.parts["train"].images)
            log.info("data %s: mean %s and std %s per channel, computed from the training split (data.mean and "
                     "data.std set them instead)", self.name, _rounded(self.mean), _rounded(self.std))
        if len(self.mean) not in (1, channels) or len(self.std) != len(self.mean):
            raise DataError(
                f"data.mean and data.std need 1 or {channels} values each for {self.name}, "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        # (x / 255 - mean) / std as one multiply-add: x * scale - shift.
        self.scale = 1.0 / (255.0 * std)
        self.shift = torch.tensor(self.mean).view(1, -1, 1, 1) / std

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True, drop_last=self.drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def resident_device(self) -> torch.device | None:
        """Where the images live for training: the trainer's device when data.resident says so (auto: a device
        other than the CPU, with no DataLoader workers, which could not reach it; optlab.config.checks refuses true with
        workers), else None: host memory, each batch copied to the device by Lightning."""
        if self.trainer is None:
            return None
        device = self.trainer.strategy.root_device
        if self.resident == "auto":
            return device if device.type != "cpu" and self.num_workers == 0 else None
        return device if self.resident else None

    def _loader(self, part: str, batch_size: int, shuffle: bool, drop_last: bool = False) -> DataLoader:
        rank, world_size = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        device = self.resident_device()
        if device is not None:  # moved once; a tensor already there is kept as it is
            self.parts[part] = self.parts[part].to(device)
        dataset = self.parts[part]
        batches = ShardedBatches(len(dataset), batch_size, shuffle, self.shuffle_seed, rank, world_size, device,
                                 drop_last)
        # batch_size=None: the sampler already yields whole batches of indices. The generator: a DataLoader draws a
        # base seed for its workers each time its iterator is made, from the global RNG unless given its own, and
        # that draw would move the global RNG (dropout) between the epoch's reseed and its first batch.
        generator = torch.Generator().manual_seed(self.shuffle_seed)
        return DataLoader(dataset, sampler=batches, batch_size=None, num_workers=self.num_workers, generator=generator)

    def _augment_generator(self, epoch: int, device: torch.device) -> torch.Generator:
        """A generator seeded from (seed, epoch): an epoch's augmentation is the same whether or not the run was
        resumed, whatever else drew random numbers before it."""
        if self.augment_generator is None or self.augment_generator[0] != epoch:
            generator = torch.Generator(device=device).manual_seed(epoch_seed(self.shuffle_seed, epoch))
            self.augment_generator = (epoch, generator)
        return self.augment_generator[1]

    def on_after_batch_transfer(self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int):
        """Augment (training only) and normalise on the device the batch now lives on."""
        images, labels = batch
        if self.augment and self.trainer is not None and self.trainer.training:
            generator = self._augment_generator(self.trainer.current_epoch, images.device)
            images = random_crop_and_flip(images, self.crop_padding, self.hflip, generator)
        images = self.normalise(images)
        if self.trainer is not None:
            images = self.trainer.precision_plugin.convert_input(images)
        return images, labels

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """Stored uint8 images as the network sees them: float, per-channel mean 0 and std 1 (data.mean, data.std)."""
        if self.scale.device != images.device:  # once per device, not once per batch
            self.scale, self.shift = self.scale.to(images.device), self.shift.to(images.device)
        return images.float().mul_(self.scale).sub_(self.shift)

    def first_images(self, part: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `count` images of a part (train, val, test), normalised and never augmented, with their labels:
        a fixed batch for the tools that look at a trained network (optlab.landscape)."""
        images, labels = self.parts[part][torch.arange(min(count, len(self.parts[part])))]
        return self.normalise(images), labels


def ready_datamodule(node: Any) -> pl.LightningDataModule:
    """The configured data (cfg.data) built, downloaded or checked, and split: what a run, the learning-rate finder
    and a landscape start from."""
    datamodule = instantiate(node)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule
