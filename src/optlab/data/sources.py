"""Where images come from: each source turns a data set on disk (or in a package) into uint8 tensors.

Sources decode everything once into memory (N, C, H, W) uint8, so that training never waits for PIL:
normalisation and augmentation happen later, per batch, on whole tensors (see data.py and augment.py).
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torchvision.datasets import CIFAR10, CIFAR100, EMNIST, KMNIST, MNIST, SVHN, FashionMNIST


class DataError(RuntimeError):
    """A data set that cannot be used as configured; the message says what to change."""


@dataclass(frozen=True)
class Splits:
    """A data set's official train and test parts, images as (N, C, H, W) uint8, labels as int64."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...] = ()  # label i is class_names[i]; empty: the labels' numbers are their names


_LOADED: dict[tuple[str, tuple[tuple[str, str], ...]], Splits] = {}


def load_once(source: object) -> Splits:
    """The source's splits, decoded once per process: the runs of one process (a tune worker's trials and reruns, a
    sweep's jobs under the basic launcher) read the same files, and decoding them again cost each run about a
    second. Keyed by the source's class and settings (root, verify, split, seed...); only the latest data set is
    kept. Nothing downstream writes into these tensors: a datamodule indexes copies out of them."""
    key = (type(source).__qualname__, tuple(sorted((name, str(value)) for name, value in vars(source).items())))
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = source.load()  # type: ignore[attr-defined]
    return _LOADED[key]


DIGIT_NAMES = tuple("0123456789")


class CIFAR10Source:
    """CIFAR-10 through torchvision (download and MD5 check), or any copy in its batch-file layout."""

    name = "CIFAR-10"
    folder = "cifar-10-batches-py"
    dataset_class: type[CIFAR10] = CIFAR10
    files = "data_batch_1..5, test_batch, batches.meta"

    def __init__(self, root: str, download: bool, verify: bool) -> None:
        self.root = Path(root).expanduser()
        self.download = download
        self.verify = verify

    def prepare(self) -> None:
        """Download once (one process) when the files are missing."""
        if self.download and not (self.root / self.folder).is_dir():
            with _download_errors(self.name, self.root, f"{self.folder}/"):
                self.dataset_class(str(self.root), train=True, download=True)

    def load(self) -> Splits:
        train, test = self._open(train=True), self._open(train=False)
        return Splits(
            train_images=_hwc_to_chw(train.data),
            train_labels=torch.as_tensor(train.targets, dtype=torch.long),
            test_images=_hwc_to_chw(test.data),
            test_labels=torch.as_tensor(test.targets, dtype=torch.long),
            num_classes=len(train.classes),
            class_names=tuple(train.classes),
        )

    def _open(self, train: bool) -> CIFAR10:
        folder = self.root / self.folder
        if not folder.is_dir():
            raise DataError(
                f"{self.name} not found: no {folder}/ ({self.files}); "
                f"set data.root to the folder that holds {self.folder}/, or data.download=true"
            )
        dataset_class = self.dataset_class if self.verify else _unchecked_cifar(self.dataset_class)
        try:
            return dataset_class(str(self.root), train=train, download=False)
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted."
            raise DataError(
                f"{self.name} in {folder} failed torchvision's MD5 check ({error}); re-download it, or for a "
                "re-encoded copy (such as a JPEG copy) set data.verify=false"
            ) from error
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError) as error:
            raise DataError(f"{self.name} in {folder} is truncated or corrupt ({error}); re-download it") from error


class CIFAR100Source(CIFAR10Source):
    """CIFAR-100 (its 100 fine labels) through torchvision, or any copy in its layout (cifar-100-python/)."""

    name = "CIFAR-100"
    folder = "cifar-100-python"
    dataset_class = CIFAR100
    files = "train, test, meta"


def _unchecked_cifar(dataset_class: type[CIFAR10]) -> type[CIFAR10]:
    """The torchvision class without the official MD5s (torchvision then only checks that each file exists): for
    copies whose bytes differ from the official release."""
    return type(f"Unchecked{dataset_class.__name__}", (dataset_class,), {
        "train_list": [[name, None] for name, _ in dataset_class.train_list],
        "test_list": [[name, None] for name, _ in dataset_class.test_list],
        "meta": {**dataset_class.meta, "md5": None},
    })


class SVHNSource:
    """SVHN (Street View House Numbers, cropped digits) from torchvision's files in data.root: train_32x32.mat and
    test_32x32.mat (and extra_32x32.mat, 531,131 more training images, when include_extra). Label 0 is the digit 0
    (the files say 10, torchvision maps it)."""

    parts = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}

    def __init__(self, root: str, download: bool, verify: bool, include_extra: bool) -> None:
        self.root = Path(root).expanduser()
        self.download = download
        self.verify = verify
        self.include_extra = include_extra

    @property
    def needed(self) -> list[str]:
        return ["train", "test", *(["extra"] if self.include_extra else [])]

    def prepare(self) -> None:
        """Download once (one process) the parts that are missing."""
        for part in self.needed:
            if self.download and not (self.root / self.parts[part]).is_file():
                with _download_errors("SVHN", self.root, self.parts[part]):
                    SVHN(str(self.root), split=part, download=True)

    def load(self) -> Splits:
        train = [self._open(part) for part in self.needed if part != "test"]
        test = self._open("test")
        return Splits(
            train_images=torch.cat([torch.from_numpy(p.data) for p in train]),
            train_labels=torch.cat([torch.from_numpy(p.labels) for p in train]),
            test_images=torch.from_numpy(test.data),
            test_labels=torch.from_numpy(test.labels),
            num_classes=10,
            class_names=DIGIT_NAMES,
        )

    def _open(self, part: str) -> SVHN:
        path = self.root / self.parts[part]
        if not path.is_file():
            raise DataError(f"SVHN not found: no {path}; set data.root to the folder that holds "
                            f"{', '.join(self.parts[p] for p in self.needed)}, or data.download=true")
        dataset_class = SVHN if self.verify else _UncheckedSVHN
        try:
            return dataset_class(str(self.root), split=part, download=False)
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted."
            raise DataError(f"{path} failed torchvision's MD5 check ({error}); re-download it, or for a copy "
                            "whose bytes differ from the official release set data.verify=false") from error
        except (ValueError, OSError, KeyError, TypeError, IndexError) as error:  # scipy's MatReadError: ValueError
            raise DataError(f"{path} is truncated or corrupt ({error}); re-download it") from error


class _UncheckedSVHN(SVHN):
    """SVHN without the official MD5s (torchvision then only checks that the file exists)."""

    split_list = {part: [url, name, None] for part, (url, name, _) in SVHN.split_list.items()}


class IDXSource:
    """MNIST and Fashion-MNIST from their four IDX files, gzipped or not.

    Looks in torchvision's layout (<root>/MNIST/raw/) and in <root> itself, so a folder holding just the four
    official .gz files works offline; otherwise torchvision downloads into its layout (with its checksums).
    """

    datasets = {"mnist": MNIST, "fashion_mnist": FashionMNIST, "kmnist": KMNIST}
    class_names = {"mnist": DIGIT_NAMES, "fashion_mnist": tuple(FashionMNIST.classes), "kmnist": tuple(KMNIST.classes)}
    files = {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }

    def __init__(self, dataset: str, root: str, download: bool, verify: bool) -> None:
        if dataset not in self.datasets:
            raise DataError(f"unknown IDX data set {dataset!r}; choose one of {sorted(self.datasets)}")
        self.dataset = dataset
        self.names = self.class_names[dataset]
        self.root = Path(root).expanduser()
        self.download = download
        self.verify = verify

    @property
    def torchvision_folder(self) -> Path:
        return self.root / self.datasets[self.dataset].__name__ / "raw"

    def prepare(self) -> None:
        """Download once (one process) when no folder holds the files."""
        if self.download and self._find_folder() is None:
            with _download_errors(self.dataset, self.root, "the four IDX files"):
                self.datasets[self.dataset](str(self.root), train=True, download=True)

    def load(self) -> Splits:
        folder = self._find_folder()
        if folder is None:
            names = ", ".join(f"{name}[.gz]" for name in self.files.values())
            raise DataError(
                f"{self.dataset} not found: looked for {names} in {self.torchvision_folder} and in {self.root}; "
                "set data.root to the folder that holds them, or data.download=true"
            )
        tensors = {key: read_idx(_existing(folder / name)) for key, name in self.files.items()}
        return Splits(
            train_images=tensors["train_images"].unsqueeze(1),
            train_labels=tensors["train_labels"].long(),
            test_images=tensors["test_images"].unsqueeze(1),
            test_labels=tensors["test_labels"].long(),
            num_classes=len(self.names),
            class_names=self.names,
        )

    def _find_folder(self) -> Path | None:
        for folder in (self.torchvision_folder, self.root):
            if all(_existing(folder / name, required=False) for name in self.files.values()):
                return folder
        return None


class EMNISTSource(IDXSource):
    """EMNIST (Cohen et al. 2017) from its IDX files, e.g. emnist-balanced-train-images-idx3-ubyte[.gz], in
    torchvision's layout (<root>/EMNIST/raw/) or in <root>; torchvision downloads all splits at once (535 MB).

    The files store each image transposed (the NIST convention); torchvision hands them over as stored, so every
    letter lies on its side. Here they are turned upright. `letters` labels its 26 classes 1..26 in the files (no
    class 0); here 0..25, so that the classifier has no class that never occurs.
    """

    splits = ("balanced", "letters", "digits", "byclass", "bymerge", "mnist")

    def __init__(self, split: str, root: str, download: bool, verify: bool) -> None:
        if split not in self.splits:
            raise DataError(f"data.source.split={split} is not an EMNIST split; choose one of {', '.join(self.splits)}")
        self.split = split
        self.dataset = f"EMNIST {split}"
        self.names = tuple(EMNIST.classes_split_dict[split])
        self.root = Path(root).expanduser()
        self.download = download
        self.verify = verify
        self.files = {key: f"emnist-{split}-{'train' if key.startswith('train') else 'test'}-"
                           f"{'images-idx3' if key.endswith('images') else 'labels-idx1'}-ubyte"
                      for key in IDXSource.files}

    @property
    def torchvision_folder(self) -> Path:
        return self.root / "EMNIST" / "raw"

    def prepare(self) -> None:
        if self.download and self._find_folder() is None:
            with _download_errors(self.dataset, self.root, "the four IDX files of the split"):
                EMNIST(str(self.root), split=self.split, train=True, download=True)

    def load(self) -> Splits:
        splits = super().load()
        offset = 1 if self.split == "letters" else 0  # torchvision's letters names start with "N/A" for label 0
        return Splits(
            train_images=splits.train_images.transpose(2, 3).contiguous(),
            train_labels=splits.train_labels - offset,
            test_images=splits.test_images.transpose(2, 3).contiguous(),
            test_labels=splits.test_labels - offset,
            num_classes=len(self.names) - offset,
            class_names=self.names[offset:],
        )


@contextmanager
def _download_errors(name: str, root: Path, files: str) -> Iterator[None]:
    """torchvision's download errors are several lines per mirror; say it in one, with what to do offline."""
    try:
        yield
    except (RuntimeError, URLError, OSError) as error:
        first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise DataError(
            f"could not download {name} into {root} ({first}); offline, set data.root to a folder that "
            f"holds {files}"
        ) from error


def _existing(path: Path, required: bool = True) -> Path | None:
    """The file itself or its .gz twin, whichever is there."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            return candidate
    if required:
        raise DataError(f"missing {path}[.gz]")
    return None


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (gzipped or not) of uint8 data, checking its size against its header.

    torchvision's reader takes only uncompressed files and does not check the size, so a truncated
    download would fail later with a shape error; here it fails with the file's name.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path} is not a readable gzip file ({error}); delete it and fetch it again") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of uint8 data; delete it and fetch it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{path} is truncated or corrupt: its header promises {shape} ({expected} bytes) but it holds "
            f"{len(raw)} bytes; delete it and fetch it again"
        )
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).view(*shape)


class DigitsSource:
    """The UCI 8x8 handwritten digits (scikit-learn's copy, bundled with optlab), upscaled to image_size.

    Bundled rather than read through scikit-learn: installing scikit-learn brings scipy, which torchmetrics (and so
    Lightning) then imports at start-up, 0.8 s of every run's launch on a 2-core CPU.
    """

    def __init__(self, image_size: int, test_size: int, split_seed: int) -> None:
        self.image_size = image_size
        self.test_size = test_size
        self.split_seed = split_seed

    def prepare(self) -> None:
        """Nothing to download."""

    def load(self) -> Splits:
        with resources.as_file(resources.files("optlab") / "bundled" / "digits.csv.gz") as path:
            rows = np.loadtxt(path, delimiter=",", dtype=np.int64)  # 64 pixels (0..16), then the label
        # Pixel values are 0..16; spread them over 0..255 like every other data set.
        pixels = torch.from_numpy(rows[:, :-1]).view(-1, 1, 8, 8)
        images = (pixels * (255.0 / 16.0)).round().to(torch.uint8)
        scale = self.image_size // images.shape[-1]
        if scale < 1 or scale * images.shape[-1] != self.image_size:
            raise DataError(f"data.source.image_size={self.image_size} must be a multiple of 8")
        images = images.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        labels = torch.from_numpy(rows[:, -1])
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.split_seed))
        test, train = order[: self.test_size], order[self.test_size :]
        return Splits(images[train], labels[train], images[test], labels[test], num_classes=10,
                      class_names=DIGIT_NAMES)


class SyntheticSource:
    """Random images and labels of a chosen shape: exercises the whole pipeline in milliseconds."""

    def __init__(
        self, num_train: int, num_test: int, channels: int, image_size: int, num_classes: int, seed: int
    ) -> None:
        self.shape = (channels, image_size, image_size)
        self.num_train = num_train
        self.num_test = num_test
        self.num_classes = num_classes
        self.seed = seed

    def prepare(self) -> None:
        """Nothing to download."""

    def load(self) -> Splits:
        generator = torch.Generator().manual_seed(self.seed)
        total = self.num_train + self.num_test
        images = torch.randint(0, 256, (total, *self.shape), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, self.num_classes, (total,), generator=generator)
        n = self.num_train
        return Splits(images[:n], labels[:n], images[n:], labels[n:], num_classes=self.num_classes)


def _hwc_to_chw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
