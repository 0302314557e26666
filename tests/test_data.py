"""The data pipeline: batching, splits, normalisation, augmentation, and reading files from disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import fake_cifar, fake_idx_folder

from optlab.data.augment import random_crop_and_flip
from optlab.data.datamodule import ImageDataModule, ShardedBatches
from optlab.data.sources import CIFAR10Source, DataError, DigitsSource, IDXSource, SyntheticSource, read_idx


def test_batches_cover_every_index_once_and_reshuffle_by_epoch() -> None:
    batches = ShardedBatches(size=10, batch_size=4, shuffle=True, seed=3)
    first = torch.cat(list(batches))
    assert sorted(first.tolist()) == list(range(10)) and len(batches) == 3
    assert torch.equal(first, torch.cat(list(batches)))  # same epoch, same order
    batches.set_epoch(1)
    assert not torch.equal(first, torch.cat(list(batches)))


def test_drop_last_leaves_out_the_smaller_last_batch_of_training_only() -> None:
    batches = ShardedBatches(size=10, batch_size=4, shuffle=True, seed=3, drop_last=True)
    assert [len(b) for b in batches] == [4, 4] and len(batches) == 2
    dm = on_device("cpu", drop_last=True)  # 90 training images in batches of 16: 5 full ones, 10 images left out
    assert [len(labels) for _, labels in dm.train_dataloader()] == [16] * 5 and len(dm.train_dataloader()) == 5
    assert sum(len(labels) for _, labels in dm.val_dataloader()) == 10  # evaluation keeps every image


def test_batches_shard_disjointly_across_processes() -> None:
    shards = [torch.cat(list(ShardedBatches(11, 2, True, 0, rank=r, world_size=2))) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 5  # the odd index out is dropped so both run the same steps
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def datamodule(**changes) -> ImageDataModule:
    options = dict(
        name="synthetic", source=SyntheticSource(100, 20, 3, 8, 10, seed=0), batch_size=16, eval_batch_size=64,
        train_size=None, val_size=10, split_seed=42, shuffle_seed=1, augment=False, crop_padding=4, hflip=True,
        num_workers=0, mean=[0.5], std=[0.25],
    )
    return ImageDataModule(**{**options, **changes})


def test_starting_an_epoch_leaves_the_global_rng_alone() -> None:
    """The epoch's reseed (ReseedEachEpoch, at on_train_epoch_start) must reach the first batch unmoved: dropout
    draws from the global RNG, and a resumed run must draw what an uninterrupted one draws."""
    dm = datamodule()
    dm.setup()
    loader = dm.train_dataloader()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    iter(loader)  # what Lightning does at every epoch's start
    assert torch.equal(torch.get_rng_state(), before)


def on_device(device: str, **changes) -> ImageDataModule:
    """A set-up data module whose trainer trains on `device` (a stand-in for Lightning's: only what _loader reads)."""
    dm = datamodule(**changes)
    dm.setup()
    strategy = SimpleNamespace(root_device=torch.device(device))
    dm.trainer = SimpleNamespace(global_rank=0, world_size=1, strategy=strategy)
    return dm


@pytest.mark.parametrize("resident, workers, device, where", [
    ("auto", 0, "cuda:1", "cuda:1"), ("auto", 2, "cuda:1", None), ("auto", 0, "cpu", None),
    (True, 0, "cpu", "cpu"), (False, 0, "cuda:0", None),
])
def test_resident_data_goes_to_the_training_device_where_asked(resident, workers: int, device: str, where) -> None:
    dm = on_device(device, resident=resident, num_workers=workers)
    assert dm.resident_device() == (torch.device(where) if where else None)


def test_resident_batches_are_gathered_on_the_device_in_the_same_order() -> None:
    """The GPU branch run on the meta device (shapes only, no GPU needed): images, labels and every epoch's indices
    go there once, and a batch is a gather there, in the order a host-memory run draws."""
    on_host, on_meta = on_device("cpu", resident=False), on_device("meta", resident=True)
    host_batches, meta_batches = list(on_host.train_dataloader()), list(on_meta.train_dataloader())
    assert on_meta.parts["train"].images.device.type == "meta" and len(host_batches) == len(meta_batches)
    for (host_images, host_labels), (meta_images, meta_labels) in zip(host_batches, meta_batches, strict=True):
        assert meta_images.device.type == meta_labels.device.type == "meta"
        assert meta_images.shape == host_images.shape and meta_labels.shape == host_labels.shape
    sampler = on_meta.train_dataloader().sampler
    assert all(batch.device.type == "meta" for batch in sampler)
    sampler.device = None
    assert [b.tolist() for b in sampler] == [b.tolist() for b in on_host.train_dataloader().sampler]


def test_validation_is_held_out_of_training_with_a_fixed_seed() -> None:
    dm, again = datamodule(), datamodule(shuffle_seed=99)
    dm.setup(), again.setup()
    assert len(dm.parts["train"]) == 90 and len(dm.parts["val"]) == 10 and len(dm.parts["test"]) == 20
    assert torch.equal(dm.parts["val"].images, again.parts["val"].images)  # same split whatever the run seed
    train = {tuple(x.flatten().tolist()) for x in dm.parts["train"].images}
    assert not any(tuple(x.flatten().tolist()) in train for x in dm.parts["val"].images)


@pytest.mark.parametrize("changes, message", [
    ({"train_size": 91}, "data.train_size=91 must be between 1 and 90"),
    ({"val_size": 100}, "data.val_size=100 must leave between 1 and 99 images for validation"),
    ({"mean": [0.1, 0.2]}, "data.mean and data.std need 1 or 3 values"),
])
def test_impossible_sizes_are_refused_with_the_key_to_change(changes: dict, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("[", r"\[")):
        datamodule(**changes).setup()


def test_normalisation_matches_the_formula() -> None:
    dm = datamodule()
    dm.setup()
    images = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    normalised, _ = dm.on_after_batch_transfer((images, torch.zeros(1)), 0)
    expected = (images.float() / 255 - 0.5) / 0.25
    assert torch.allclose(normalised, expected, atol=1e-6)


def test_random_crop_moves_content_and_keeps_shape() -> None:
    torch.manual_seed(0)
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6).to(torch.uint8)
    assert torch.equal(random_crop_and_flip(images, 0, hflip=False), images)
    cropped = random_crop_and_flip(images, 2, hflip=False)
    assert cropped.shape == images.shape and cropped.dtype == torch.uint8 and cropped.is_contiguous()
    # Each crop is a window of the zero-padded image: find it.
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, r : r + 6, c : c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(cropped[i], w) for w in windows)


def test_hflip_mirrors_some_images_only() -> None:
    torch.manual_seed(0)
    images = torch.rand(64, 1, 2, 3)
    flipped = random_crop_and_flip(images, 0, hflip=True)
    mirrored = [torch.equal(flipped[i], images[i].flip(2)) for i in range(64)]
    kept = [torch.equal(flipped[i], images[i]) for i in range(64)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and 10 < sum(mirrored) < 54


def test_crop_and_flip_together_are_a_crop_then_a_flip_of_the_same_draws() -> None:
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    both = random_crop_and_flip(images, 2, hflip=True, generator=torch.Generator().manual_seed(5))
    generator = torch.Generator().manual_seed(5)
    cropped = random_crop_and_flip(images, 2, hflip=False, generator=generator)
    flips = torch.rand(16, generator=generator) < 0.5  # the draw that comes after the crop's
    expected = torch.where(flips.view(-1, 1, 1, 1), cropped.flip(3), cropped)
    assert torch.equal(both, expected)


@pytest.mark.parametrize("layout", ["flat_gz", "torchvision_raw"])
def test_idx_source_reads_a_flat_gz_folder_and_torchvision_layout(tmp_path: Path, layout: str) -> None:
    folder = tmp_path if layout == "flat_gz" else tmp_path / "FashionMNIST" / "raw"
    fake_idx_folder(folder, compress=layout == "flat_gz")
    splits = IDXSource("fashion_mnist", str(tmp_path), download=False, verify=True).load()
    assert splits.train_images.shape == (12, 1, 28, 28) and splits.test_labels.shape == (4,)
    assert splits.train_images.dtype == torch.uint8 and splits.train_labels.dtype == torch.long


def test_missing_idx_files_name_the_folders_and_data_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"mnist not found: looked for .* set data.root"):
        IDXSource("mnist", str(tmp_path), download=False, verify=True).load()


def test_truncated_idx_file_is_reported_with_its_name(tmp_path: Path) -> None:
    fake_idx_folder(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is truncated or corrupt"):
        read_idx(path)


def test_corrupt_gzip_is_reported_with_its_name(tmp_path: Path) -> None:
    fake_idx_folder(tmp_path, compress=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is not a readable gzip file"):
        IDXSource("mnist", str(tmp_path), download=False, verify=True).load()


def test_cifar_copy_fails_the_md5_check_unless_verify_is_off(tmp_path: Path) -> None:
    fake_cifar(tmp_path)
    with pytest.raises(DataError, match="failed torchvision's MD5 check.*data.verify=false"):
        CIFAR10Source(str(tmp_path), download=False, verify=True).load()
    splits = CIFAR10Source(str(tmp_path), download=False, verify=False).load()
    assert splits.train_images.shape == (20, 3, 32, 32) and splits.test_images.shape == (4, 3, 32, 32)


def test_missing_cifar_names_data_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="CIFAR-10 not found.*set data.root"):
        CIFAR10Source(str(tmp_path), download=False, verify=True).load()


def test_digits_are_real_upscaled_and_split_once() -> None:
    splits = DigitsSource(image_size=32, test_size=297, split_seed=42).load()
    assert splits.train_images.shape == (1500, 1, 32, 32) and len(splits.test_labels) == 297
    assert splits.train_images.max() == 255 and set(splits.train_labels.tolist()) == set(range(10))


def test_bundled_digits_are_scikit_learns_digits() -> None:
    """The bundled file decodes to the data of sklearn.datasets.load_digits(): the checksums below are of its images
    (scaled to 0..255 as DigitsSource does) and labels, taken with scikit-learn 1.x before the file was bundled."""
    splits = DigitsSource(image_size=8, test_size=297, split_seed=42).load()
    split_order = torch.randperm(1797, generator=torch.Generator().manual_seed(42))
    taken = torch.cat([split_order[297:], split_order[:297]])  # train, then test, as load() returns them
    images, labels = torch.empty(1797, 1, 8, 8, dtype=torch.uint8), torch.empty(1797, dtype=torch.long)
    images[taken] = torch.cat([splits.train_images, splits.test_images])
    labels[taken] = torch.cat([splits.train_labels, splits.test_labels])
    assert hashlib.sha256(images.numpy().tobytes()).hexdigest() == (
        "b41ca9fd335466eee997366c2e6f6bbe0a1b4582afe091fc4eba35f4a254182f")
    assert hashlib.sha256(labels.numpy().tobytes()).hexdigest() == (
        "a3c91c262eddcf7ba8f0e37507c30284493c9b20412ffe4af30d536401f7ba21")


def test_a_process_decodes_a_data_set_once_and_its_runs_get_the_same_untouched_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tune worker's runs share one decode of the files: a second datamodule of the same source settings reads
    nothing, and after the first one's every batch of every part was drawn what it gets still equals a fresh decode;
    other settings decode again."""
    fake_idx_folder(tmp_path, compress=True)
    decodes: list[str] = []
    original = IDXSource.load
    monkeypatch.setattr(IDXSource, "load", lambda source: decodes.append(str(source.root)) or original(source))

    def setup(verify: bool) -> ImageDataModule:
        dm = on_device("cpu", name="fashion_mnist", val_size=4, mean=None, std=None,
                       source=IDXSource("fashion_mnist", str(tmp_path), download=False, verify=verify))
        return dm

    first = setup(verify=False)
    for loader in (first.train_dataloader(), first.val_dataloader(), first.test_dataloader()):
        assert sum(len(labels) for _, labels in loader) > 0
    second = setup(verify=False)
    fresh = original(IDXSource("fashion_mnist", str(tmp_path), download=False, verify=False))
    assert len(decodes) == 1
    assert torch.equal(second.parts["test"].images, fresh.test_images)
    setup(verify=True)
    assert len(decodes) == 2
