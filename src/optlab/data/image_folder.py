"""data=image_folder: a user's own images in torchvision's ImageFolder layout, decoded once into uint8 memory.

Layout: `<root>/<class>/<image>` (sub-folders of a class count as that class), or `<root>/train/<class>/...` and
`<root>/test/<class>/...`, whose split is kept. A single folder is split into train and test per class by
`test_fraction` with the fixed split seed, so every class keeps its share of both; validation is then held out of
train as for every data set (data.val_size).

Every image is read twice: first its header (size and mode, cheap), so that the size to resize to, the channels
and the memory needed are known before anything is decoded; then decoded, converted and resized once, into one
(N, C, H, W) uint8 tensor. What it decides is logged in one line each:
- size: `image_size` (an int for square images, or [height, width]); null takes the most common size, and images
  of other sizes are resized to it (bilinear, antialiased), counted in the log;
- channels: `channels` 1 or 3; null takes what most images are (grey modes count as 1);
- modes: CMYK, palette, 16-bit grey and images with transparency are converted, counted per mode in the log
  (transparent pixels become black; 16-bit values are scaled by 255/65535, not clipped). A 32-bit float image is
  refused, naming the file: there is no agreed way to map its values to 0..255;
- a file that cannot be decoded (truncated, or not an image despite its extension) is refused, naming it:
  silently dropping it would change the data set without anyone knowing.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.datasets.folder import IMG_EXTENSIONS

from optlab.files import first_line
from optlab.data.sources import DataError, Splits

log = logging.getLogger(__name__)

GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}
AS_IS = {1: "L", 3: "RGB"}  # the modes that need no conversion for 1 and 3 channels


@dataclass(frozen=True)
class ImageFile:
    """One image as its header describes it."""

    path: Path
    label: int
    size: tuple[int, int]  # (height, width)
    mode: str
    transparent: bool


class ImageFolderSource:
    def __init__(self, folder: str, image_size: int | Sequence[int] | None, channels: int | None, test_fraction: float,
                 split_seed: int, memory_limit_gb: float | None) -> None:
        self.folder = Path(folder).expanduser()
        self.image_size = image_size
        self.channels = channels
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.memory_limit_gb = memory_limit_gb

    def prepare(self) -> None:
        """Nothing to download: the images are the user's."""

    def load(self) -> Splits:
        parts, class_names = self._find_images()
        if "all" in parts and not 0 < self.test_fraction < 1:  # before anything is decoded
            raise DataError(f"data.source.test_fraction={self.test_fraction} must be between 0 and 1 (a single "
                            "folder is split into train and test)")
        headers = {part: [read_header(path, label) for path, label in files] for part, files in parts.items()}
        every = [image for images in headers.values() for image in images]
        size = self._size(every)
        channels = self._channels(every)
        self._check_memory(len(every), channels, size)
        _log_conversions(every, channels)
        tensors = {part: (decode_all(images, size, channels), torch.tensor([i.label for i in images]))
                   for part, images in headers.items()}
        if "test" not in tensors:
            tensors = self._split_train_test(*tensors["all"])
        log.info("image_folder %s: %d classes (%s), %d train and %d test images of %dx%dx%d", self.folder,
                 len(class_names), ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else ""),
                 len(tensors["train"][1]), len(tensors["test"][1]), channels, *size)
        return Splits(*tensors["train"], *tensors["test"], num_classes=len(class_names),
                      class_names=tuple(class_names))

    def _find_images(self) -> tuple[dict[str, list[tuple[Path, int]]], list[str]]:
        """{"train": [...], "test": [...]} or {"all": [...]} as (path, label) pairs, and the class names."""
        if not self.folder.is_dir():
            raise DataError(f"data.root={self.folder} is not a folder; point it at a folder of class folders "
                            "(<root>/<class>/<image>)")
        if (self.folder / "train").is_dir() and (self.folder / "test").is_dir():
            others = sorted(p.name for p in self.folder.iterdir() if p.is_dir() and p.name not in ("train", "test")
                            and not p.name.startswith("."))
            if others:
                raise DataError(f"{self.folder} holds train/ and test/ and also {', '.join(f + '/' for f in others)}: "
                                "validation is held out of train/ (data.val_size); move those images into train/ or "
                                "elsewhere")
            train, test = class_folders(self.folder / "train"), class_folders(self.folder / "test")
            if set(train) != set(test):
                raise DataError(f"{self.folder}/train/ and test/ have different classes (only in train/: "
                                f"{_names(set(train) - set(test))}; only in test/: {_names(set(test) - set(train))}); "
                                "give both the same class folders")
            names = sorted(train)
            return {"train": labelled(train, names), "test": labelled(test, names)}, names
        folders = class_folders(self.folder)
        names = sorted(folders)
        return {"all": labelled(folders, names)}, names

    def _size(self, images: list[ImageFile]) -> tuple[int, int]:
        if self.image_size is not None:
            size = _as_size(self.image_size)
            why = "data.source.image_size"
        else:
            counts = Counter(image.size for image in images)
            size = max(counts, key=lambda s: (counts[s], s[0] * s[1]))
            why = "the most common size; data.source.image_size sets another"
        others = sum(image.size != size for image in images)
        log.info("image_folder: images are %dx%d (%s)%s", *size, why,
                 f"; {others} of {len(images)} of other sizes are resized to it" if others else "")
        return size

    def _channels(self, images: list[ImageFile]) -> int:
        if self.channels is not None:
            if self.channels not in AS_IS:
                raise DataError(f"data.source.channels={self.channels} must be 1 (grey), 3 (RGB) or null (what most "
                                "images are)")
            return self.channels
        grey = sum(image.mode in GREY_MODES for image in images)
        channels = 1 if grey > len(images) / 2 else 3
        log.info("image_folder: %d channel%s (%d of %d images are grey; data.source.channels sets it)", channels,
                 "" if channels == 1 else "s", grey, len(images))
        return channels

    def _check_memory(self, count: int, channels: int, size: tuple[int, int]) -> None:
        """Refuse before decoding a folder whose images would not fit in memory, rather than being killed mid-way."""
        needed = count * channels * size[0] * size[1]
        limit = self.memory_limit_gb * 1e9 if self.memory_limit_gb is not None else available_memory() / 2
        origin = "data.source.memory_limit_gb" if self.memory_limit_gb is not None else \
            "half the memory available now; data.source.memory_limit_gb sets another"
        if needed > limit:
            raise DataError(f"{self.folder}: {count:,} images of {channels}x{size[0]}x{size[1]} need {needed / 1e9:.1f} "
                            f"GB in memory, over the limit of {limit / 1e9:.1f} GB ({origin}); set a smaller "
                            "data.source.image_size, or train on a sample of the folder")

    def _split_train_test(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, tuple]:
        """Each class's images shuffled with the split seed, the first test_fraction of them to test."""
        generator = torch.Generator().manual_seed(self.split_seed)
        test = []
        for label in labels.unique().tolist():
            members = (labels == label).nonzero().flatten()
            members = members[torch.randperm(len(members), generator=generator)]
            test.append(members[: round(len(members) * self.test_fraction)])
        is_test = torch.zeros(len(labels), dtype=torch.bool)
        is_test[torch.cat(test)] = True
        if is_test.all() or not is_test.any():
            raise DataError(f"{self.folder}: data.source.test_fraction={self.test_fraction} leaves "
                            f"{'no training' if is_test.all() else 'no test'} images of {len(labels)}; add images "
                            "or change the fraction")
        return {"train": (images[~is_test], labels[~is_test]), "test": (images[is_test], labels[is_test])}


def class_folders(folder: Path) -> dict[str, list[Path]]:
    """{class name: its image files, sorted}, refusing what cannot be a classification data set."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder} holds no class folders: optlab expects {folder}/<class>/<image> (or train/ and "
                        "test/ holding them)")
    if len(classes) == 1:
        raise DataError(f"{folder} holds one class folder ({classes[0].name}/): a classifier needs at least 2 classes")
    images: dict[str, list[Path]] = {}
    ignored = []
    for class_folder in classes:
        files = sorted(p for p in class_folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        images[class_folder.name] = [p for p in files if p.suffix.lower() in IMG_EXTENSIONS]
        ignored += [p for p in files if p.suffix.lower() not in IMG_EXTENSIONS]
        if not images[class_folder.name]:
            raise DataError(f"{class_folder} holds no images ({', '.join(IMG_EXTENSIONS)}); add some or remove the "
                            "folder")
    if ignored:
        log.info("image_folder: %d files without an image extension left out (e.g. %s)", len(ignored), ignored[0])
    return images


def labelled(folders: dict[str, list[Path]], names: list[str]) -> list[tuple[Path, int]]:
    label = {name: index for index, name in enumerate(names)}
    return [(path, label[name]) for name, paths in sorted(folders.items()) for path in paths]


def read_header(path: Path, label: int) -> ImageFile:
    """The image's size and mode from its header; a file that is no image is refused here, naming it."""
    try:
        with Image.open(path) as image:
            transparent = "A" in image.mode or "transparency" in image.info
            return ImageFile(path, label, (image.height, image.width), image.mode, transparent)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{path} is not a readable image ({first_line(error)}); replace or remove it") from error


def decode_all(images: list[ImageFile], size: tuple[int, int], channels: int) -> torch.Tensor:
    batch = torch.empty((len(images), channels, *size), dtype=torch.uint8)
    pixels = batch.numpy()  # the same memory: each image is written in place, once
    for index, image in enumerate(images):
        pixels[index] = decode(image, size, channels)
    return batch


def decode(image: ImageFile, size: tuple[int, int], channels: int) -> np.ndarray:
    """(C, H, W) uint8 pixels of one image, converted to `channels` and resized to `size`."""
    try:
        with Image.open(image.path) as opened:
            opened.load()  # decodes now: a truncated file fails here, not in the middle of training
            converted = to_mode(opened, AS_IS[channels], image.path)
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{image.path} cannot be decoded ({first_line(error)}); replace or remove it") from error
    if image.size != size:
        converted = converted.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def to_mode(image: Image.Image, mode: str, path: Path) -> Image.Image:
    """`image` as an 8-bit L or RGB image: transparency over black, 16-bit grey scaled (Pillow's convert clips it)."""
    if image.mode == "F":
        raise DataError(f"{path} is a 32-bit float image, which has no agreed mapping to 0..255; save it as an 8- or "
                        "16-bit image")
    if image.mode in SIXTEEN_BIT_MODES:
        grey = np.asarray(image, dtype=np.float64) * (255.0 / 65535.0)
        image = Image.fromarray(np.rint(grey.clip(0, 255)).astype(np.uint8), mode="L")
    elif "A" in image.mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return image if image.mode == mode else image.convert(mode)


def _log_conversions(images: list[ImageFile], channels: int) -> None:
    converted = Counter(_describe_mode(image) for image in images
                        if image.mode != AS_IS[channels] or image.transparent)
    if converted:
        log.info("image_folder: %d images converted to %s (%s)", sum(converted.values()), AS_IS[channels],
                 "; ".join(f"{n} {mode}" for mode, n in converted.most_common()))


def _describe_mode(image: ImageFile) -> str:
    if image.mode in SIXTEEN_BIT_MODES:
        return "16-bit grey, scaled to 8 bits"
    return f"{image.mode} with transparency, over black" if image.transparent else image.mode


def available_memory() -> float:
    """Bytes of memory available now (Linux's MemAvailable; elsewhere free pages)."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _as_size(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int) and value > 0:
        return value, value
    pair = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
    if pair and all(isinstance(v, int) and v > 0 for v in value):
        return value[0], value[1]
    raise DataError(f"data.source.image_size={value} must be a positive size in pixels, [height, width], or null "
                    "(the most common size)")


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"
