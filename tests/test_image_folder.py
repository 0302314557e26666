"""data=image_folder: a user's folder of class folders, read as torchvision's ImageFolder lays it out, and every bad
input refused in one line naming the file or folder before training."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line, make_image_folder, read_summary, run_main
from PIL import Image

from optlab.data.datamodule import ImageDataModule, channel_statistics
from optlab.data.image_folder import ImageFolderSource
from optlab.data.sources import DataError


def source(root: Path, **changes) -> ImageFolderSource:
    options = dict(image_size=None, channels=None, test_fraction=0.2, split_seed=42, memory_limit_gb=None)
    return ImageFolderSource(str(root), **{**options, **changes})


def test_one_folder_is_split_per_class_with_a_fixed_seed(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "images", per_class=10)
    splits = source(tmp_path / "images").load()
    assert splits.class_names == ("checker", "horizontal", "vertical")  # sorted, as torchvision's ImageFolder
    assert splits.train_images.shape == (24, 3, 16, 16) and splits.train_images.dtype == torch.uint8
    assert torch.bincount(splits.test_labels).tolist() == [2, 2, 2]  # every class keeps its share
    again = source(tmp_path / "images").load()
    assert torch.equal(splits.test_images, again.test_images)
    # The pixels are the files' own: each test image is one of the folder's images, channels first.
    files = {np.asarray(Image.open(p)).transpose(2, 0, 1).tobytes() for p in (tmp_path / "images").rglob("*.png")}
    assert all(image.numpy().tobytes() in files for image in splits.test_images)


def test_train_and_test_folders_are_kept_as_they_are(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "images" / "train", per_class=6)
    make_image_folder(tmp_path / "images" / "test", per_class=2, seed=1)
    splits = source(tmp_path / "images").load()
    assert len(splits.train_labels) == 18 and len(splits.test_labels) == 6


def test_size_and_channels_default_to_the_most_common_and_are_logged(tmp_path: Path, caplog) -> None:
    make_image_folder(tmp_path / "images", per_class=4, size=16)
    odd = tmp_path / "images" / "checker" / "large.png"
    Image.fromarray(np.full((20, 24), 200, dtype=np.uint8)).save(odd)  # grey, and of another size
    with caplog.at_level(logging.INFO):
        splits = source(tmp_path / "images").load()
    assert splits.train_images.shape[1:] == (3, 16, 16)
    assert "images are 16x16 (the most common size" in caplog.text
    assert "1 of 13 of other sizes are resized" in caplog.text
    assert "3 channels (1 of 13 images are grey" in caplog.text
    assert "1 images converted to RGB (1 L)" in caplog.text
    grey = source(tmp_path / "images", channels=1, image_size=[8, 12]).load()
    assert grey.train_images.shape[1:] == (1, 8, 12)


def test_other_modes_are_converted_and_counted(tmp_path: Path, caplog) -> None:
    make_image_folder(tmp_path / "images", per_class=3)
    folder = tmp_path / "images" / "checker"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(folder / "cmyk.jpg")  # CMYK red
    sixteen = np.full((16, 16), 65535, dtype=np.uint16)
    Image.fromarray(sixteen).save(folder / "sixteen.png")  # 16-bit white: Pillow's convert("L") would clip, not scale
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    palette.info["transparency"] = 1
    palette.save(folder / "transparent.png")  # white, fully transparent: black over black
    with caplog.at_level(logging.INFO):
        splits = source(tmp_path / "images").load()
    assert "3 images converted to RGB (1 CMYK; 1 16-bit grey, scaled to 8 bits; 1 P with transparency, over black)" \
        in caplog.text
    images = {tuple(image[:, 0, 0].tolist()) for image in torch.cat([splits.train_images, splits.test_images])}
    assert (255, 0, 0) in images and (255, 255, 255) in images and (0, 0, 0) in images


def test_mean_and_std_are_computed_from_the_training_split(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "images", per_class=10)
    dm = ImageDataModule(name="image_folder", source=source(tmp_path / "images"), batch_size=8, eval_batch_size=64,
                         train_size=None, val_size=0.25, split_seed=42, shuffle_seed=1, augment=False,
                         crop_padding=4, hflip=True, num_workers=0, mean=None, std=None)
    dm.setup()
    train = dm.parts["train"].images.double() / 255
    assert len(dm.parts["val"]) == 6 and len(dm.parts["train"]) == 18  # a quarter of 24 held out for validation
    assert np.allclose(dm.mean, train.mean(dim=(0, 2, 3)).tolist())
    assert np.allclose(dm.std, train.std(dim=(0, 2, 3), correction=0).tolist())
    assert dm.class_names == ["checker", "horizontal", "vertical"]
    chunked = channel_statistics(dm.parts["train"].images, chunk=5)
    assert np.allclose(chunked, (dm.mean, dm.std))


def test_a_folder_too_large_for_memory_is_refused_before_decoding(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "images", per_class=4)
    with pytest.raises(DataError, match=r"12 images of 3x16x16 need 0.0 GB in memory, over the limit of 0.0 GB "
                                        r"\(data.source.memory_limit_gb\); set a smaller data.source.image_size"):
        source(tmp_path / "images", memory_limit_gb=1e-6).load()


def corrupt(folder: Path) -> Path:
    victim = folder / "checker" / "000.png"
    victim.write_bytes(victim.read_bytes()[:60])
    return victim


def not_an_image(folder: Path) -> Path:
    victim = folder / "vertical" / "notes.png"
    victim.write_text("a text file with an image's name")
    return victim


def float_image(folder: Path) -> Path:
    victim = folder / "vertical" / "float.tif"
    Image.fromarray(np.ones((16, 16), dtype=np.float32)).save(victim)
    return victim


def empty_class(folder: Path) -> Path:
    (folder / "empty").mkdir()
    (folder / "empty" / "README.txt").write_text("no images here")
    return folder / "empty"


def one_class(folder: Path) -> Path:
    for name in ("horizontal", "vertical"):
        shutil.rmtree(folder / name)
    return folder


def no_classes(folder: Path) -> Path:
    shutil.rmtree(folder)
    folder.mkdir()
    return folder


def other_test_classes(folder: Path) -> Path:
    no_classes(folder)
    make_image_folder(folder / "train", per_class=3)
    make_image_folder(folder / "test", per_class=2, classes=("checker", "horizontal", "dots"))
    return folder


@pytest.mark.parametrize("spoil, message", [
    (corrupt, "{victim} cannot be decoded (image file is truncated"),
    (not_an_image, "{victim} is not a readable image (cannot identify image file"),
    (float_image, "{victim} is a 32-bit float image"),
    (empty_class, "{victim} holds no images (.jpg"),
    (one_class, "{victim} holds one class folder (checker/): a classifier needs at least 2 classes"),
    (no_classes, "{victim} holds no class folders: optlab expects {victim}/<class>/<image>"),
    (other_test_classes, "{victim}/train/ and test/ have different classes (only in train/: vertical; only in "
                         "test/: dots)"),
])
def test_bad_folders_are_one_line_naming_the_file_before_training(tmp_path: Path, spoil, message: str,
                                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    folder = make_image_folder(tmp_path / "images", per_class=3)
    victim = spoil(folder)
    code, printed = run_main("data=image_folder", f"data.root={folder}", "trainer.max_epochs=1",
                             "trainer.enable_progress_bar=false", "hydra.run.dir=run", cwd=tmp_path,
                             monkeypatch=monkeypatch, capsys=capsys)
    assert code not in (0, None) and "Traceback" not in printed and "\n" not in str(code)
    assert assert_one_line(str(code), message.format(victim=victim)).startswith("optlab: ")
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("events.out.tfevents*"))


def test_missing_root_is_asked_for_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main("data=image_folder", "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code == "optlab: data.root must be given for this configuration, e.g. data.root=<value>"
    assert "Traceback" not in printed


def test_image_folder_trains_better_than_chance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    folder = make_image_folder(tmp_path / "images", per_class=40)
    code, printed = run_main("data=image_folder", f"data.root={folder}", "model=mnist_net", "optimizer=adam",
                             "trainer.max_epochs=6", "trainer.enable_progress_bar=false", "torch_threads=1",
                             "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    summary = read_summary(tmp_path / "run")
    assert code == 0 and summary["status"] == "ok", printed[-2000:]
    assert summary["test_acc"] > 0.8  # chance: 1/3
    assert summary["classes"] == ["checker", "horizontal", "vertical"]
    assert set(summary["test_acc_per_class"]) == {"checker", "horizontal", "vertical"}


def test_a_test_fraction_out_of_range_is_refused_before_any_image_is_decoded(tmp_path: Path, monkeypatch) -> None:
    make_image_folder(tmp_path / "images", per_class=3)
    monkeypatch.setattr("optlab.data.image_folder.decode_all", lambda *args: pytest.fail("decoded before the check"))
    with pytest.raises(DataError, match=r"data.source.test_fraction=1.5 must be between 0 and 1"):
        source(tmp_path / "images", test_fraction=1.5).load()
