"""CIFAR-100, SVHN, KMNIST and EMNIST by name: small generated copies in each data set's own file format, read by
the real loading code (torchvision's parsers and optlab's), then trained through the command line."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from helpers import fake_idx_folder, read_summary, run_main, write_idx

from optlab.data.sources import CIFAR100Source, DataError, EMNISTSource, IDXSource, SVHNSource


def fake_cifar100(root: Path, per_part: int = 40) -> None:
    """cifar-100-python/{train,test,meta} as the official pickles lay them out (fine and coarse labels)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("train", "test"):
        entry = {"data": rng.integers(0, 255, (per_part, 3072), dtype=np.uint8),
                 "fine_labels": rng.integers(0, 100, per_part).tolist(),
                 "coarse_labels": rng.integers(0, 20, per_part).tolist()}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"class{i}" for i in range(100)],
                                                "coarse_label_names": [f"super{i}" for i in range(20)]}))


def fake_svhn(root: Path, parts: tuple[str, ...] = ("train", "test"), count: int = 40) -> None:
    """<part>_32x32.mat as the official files hold them: X (32, 32, 3, N) uint8, y (N, 1) with 10 for the digit 0."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part in parts:
        scipy.io.savemat(root / f"{part}_32x32.mat", {"X": rng.integers(0, 255, (32, 32, 3, count), dtype=np.uint8),
                                                       "y": rng.integers(1, 11, (count, 1)).astype(np.uint8)})


def fake_emnist(folder: Path, split: str, labels: range, count: int = 40) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part in ("train", "test"):
        write_idx(folder / f"emnist-{split}-{part}-images-idx3-ubyte.gz", rng.integers(0, 255, (count, 28, 28)), True)
        write_idx(folder / f"emnist-{split}-{part}-labels-idx1-ubyte.gz",
                  rng.integers(labels.start, labels.stop, (count,)), True)


def test_cifar100_reads_its_fine_labels_and_names(tmp_path: Path) -> None:
    fake_cifar100(tmp_path)
    with pytest.raises(DataError, match="CIFAR-100 in .*cifar-100-python failed torchvision's MD5 check"):
        CIFAR100Source(str(tmp_path), download=False, verify=True).load()
    splits = CIFAR100Source(str(tmp_path), download=False, verify=False).load()
    raw = pickle.loads((tmp_path / "cifar-100-python" / "train").read_bytes())
    assert splits.num_classes == 100 and splits.class_names[:2] == ("class0", "class1")
    assert splits.train_labels.tolist() == raw["fine_labels"]
    assert torch.equal(splits.train_images[0], torch.from_numpy(raw["data"][0].reshape(3, 32, 32)))


def test_missing_cifar100_names_its_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="CIFAR-100 not found: no .*cifar-100-python/ .* set data.root"):
        CIFAR100Source(str(tmp_path), download=False, verify=True).load()


def test_svhn_maps_label_10_to_0_and_keeps_the_pixels(tmp_path: Path) -> None:
    fake_svhn(tmp_path)
    with pytest.raises(DataError, match="train_32x32.mat failed torchvision's MD5 check"):
        SVHNSource(str(tmp_path), download=False, verify=True, include_extra=False).load()
    splits = SVHNSource(str(tmp_path), download=False, verify=False, include_extra=False).load()
    raw = scipy.io.loadmat(tmp_path / "train_32x32.mat")
    assert splits.train_images.shape == (40, 3, 32, 32) and splits.class_names[0] == "0"
    assert splits.train_labels.tolist() == [0 if y == 10 else int(y) for y in raw["y"].flatten()]
    assert torch.equal(splits.train_images[3], torch.from_numpy(raw["X"][..., 3]).permute(2, 0, 1))


def test_svhn_extra_joins_the_training_images(tmp_path: Path) -> None:
    fake_svhn(tmp_path, parts=("train", "test", "extra"))
    splits = SVHNSource(str(tmp_path), download=False, verify=False, include_extra=True).load()
    assert len(splits.train_labels) == 80 and len(splits.test_labels) == 40


@pytest.mark.parametrize("spoil, message", [
    (lambda root: (root / "test_32x32.mat").unlink(), "SVHN not found: no {root}/test_32x32.mat; set data.root"),
    (lambda root: (root / "train_32x32.mat").write_bytes((root / "train_32x32.mat").read_bytes()[:5000]),
     "{root}/train_32x32.mat is truncated or corrupt"),
    (lambda root: (root / "train_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(50)),
     "{root}/train_32x32.mat is truncated or corrupt"),
])
def test_broken_svhn_files_are_named(tmp_path: Path, spoil, message: str) -> None:
    fake_svhn(tmp_path)
    spoil(tmp_path)
    with pytest.raises(DataError) as error:
        SVHNSource(str(tmp_path), download=False, verify=False, include_extra=False).load()
    assert message.format(root=tmp_path) in str(error.value) and "\n" not in str(error.value)


def test_kmnist_reads_torchvisions_layout_with_its_class_names(tmp_path: Path) -> None:
    fake_idx_folder(tmp_path / "KMNIST" / "raw", compress=False)
    splits = IDXSource("kmnist", str(tmp_path), download=False, verify=True).load()
    assert splits.train_images.shape == (12, 1, 28, 28) and splits.class_names[:3] == ("o", "ki", "su")


def test_emnist_letters_are_upright_and_numbered_from_zero(tmp_path: Path) -> None:
    fake_emnist(tmp_path / "EMNIST" / "raw", "letters", range(1, 27))
    splits = EMNISTSource("letters", str(tmp_path), download=False, verify=True).load()
    stored = gzip.decompress((tmp_path / "EMNIST" / "raw" / "emnist-letters-train-images-idx3-ubyte.gz").read_bytes())
    first = torch.frombuffer(bytearray(stored[16:16 + 784]), dtype=torch.uint8).view(28, 28)
    assert torch.equal(splits.train_images[0, 0], first.T)  # the files hold each image transposed
    assert splits.num_classes == 26 and splits.class_names[0] == "a" and splits.class_names[-1] == "z"
    assert 0 <= int(splits.train_labels.min()) and int(splits.train_labels.max()) <= 25


def test_emnist_balanced_has_47_classes_and_a_bad_split_is_one_line(tmp_path: Path) -> None:
    fake_emnist(tmp_path, "balanced", range(0, 47))
    splits = EMNISTSource("balanced", str(tmp_path), download=False, verify=True).load()
    assert splits.num_classes == 47 and len(splits.class_names) == 47
    with pytest.raises(DataError, match="data.source.split=greek is not an EMNIST split; choose one of balanced"):
        EMNISTSource("greek", str(tmp_path), download=False, verify=True)
    with pytest.raises(DataError, match=r"EMNIST digits not found: looked for emnist-digits-train-images-idx3-ubyte"):
        EMNISTSource("digits", str(tmp_path), download=False, verify=True).load()


@pytest.mark.parametrize("data, make, overrides", [
    ("cifar100", fake_cifar100, ["data.verify=false"]),
    ("svhn", fake_svhn, ["data.verify=false"]),
    ("kmnist", lambda root: fake_idx_folder(root, compress=True, n_train=40, n_test=12), []),
    ("emnist", lambda root: fake_emnist(root, "balanced", range(0, 47)), []),
])
def test_each_named_data_set_trains_from_its_files(tmp_path: Path, data: str, make, overrides: list[str],
                                                   monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    make(tmp_path / "files")
    code, printed = run_main(f"data={data}", f"data.root={tmp_path / 'files'}", "data.download=false",
                             "data.val_size=8", "data.batch_size=16", *overrides, "trainer.max_epochs=1",
                             "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
                             "torch_threads=1", "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch,
                             capsys=capsys)
    summary = read_summary(tmp_path / "run")
    assert code == 0 and summary["status"] == "ok", printed[-2000:]
    assert summary["data"] == data and len(summary["classes"]) == {"cifar100": 100, "emnist": 47}.get(data, 10)
    assert "computed from the training split" in printed  # mean and std: not hard-coded for these
