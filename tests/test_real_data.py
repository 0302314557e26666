"""The real data sets, where this machine has them (skipped cleanly elsewhere): loaded as torchvision would, and
a short real training on each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FASHION_MNIST, SHARED_DATASETS

from optlab.data.sources import CIFAR10Source, IDXSource
from optlab.run.job import train

MNIST_GZ = SHARED_DATASETS / "mnist"
FASHION_GZ = FASHION_MNIST
CIFAR_JPEG = SHARED_DATASETS / "build_cifar10.py"

needs_mnist = pytest.mark.skipif(not MNIST_GZ.is_dir(), reason=f"no MNIST copy at {MNIST_GZ} (set OPTLAB_DATASETS)")
needs_fashion = pytest.mark.skipif(
    not FASHION_GZ.is_dir(),
    reason=f"no Fashion-MNIST at {FASHION_GZ} (Debian's dataset-fashion-mnist, or set OPTLAB_FASHION_MNIST)",
)
needs_cifar = pytest.mark.skipif(
    not CIFAR_JPEG.is_file(), reason=f"no CIFAR-10 builder at {CIFAR_JPEG} (set OPTLAB_DATASETS)"
)


@needs_mnist
def test_mnist_from_a_folder_of_gz_files_is_the_real_mnist() -> None:
    splits = IDXSource("mnist", str(MNIST_GZ), download=False, verify=True).load()
    assert splits.train_images.shape == (60000, 1, 28, 28) and splits.test_images.shape == (10000, 1, 28, 28)
    # The published normalisation constants of MNIST come out of these very pixels.
    assert splits.train_images.float().mean().item() / 255 == pytest.approx(0.1307, abs=1e-4)
    assert splits.train_labels.bincount().tolist()[:3] == [5923, 6742, 5958]


@needs_fashion
def test_fashion_mnist_trains_on_a_subset(make_cfg) -> None:
    summary = train(make_cfg("data=fashion_mnist", f"data.root={FASHION_GZ}", "model=mnist_net", "optimizer=adam",
                             "data.train_size=2000", "data.val_size=1000", "trainer.max_epochs=1", tiny=False))
    assert summary.status == "ok" and summary.val_acc > 0.5  # chance is 0.1


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JPEG copy of CIFAR-10, built once for this module's tests (~15 s)."""
    root = tmp_path_factory.mktemp("cifar10")
    subprocess.run([sys.executable, str(CIFAR_JPEG), str(root)], check=True, capture_output=True)
    return root


@needs_cifar
@pytest.mark.slow
def test_cifar10_jpeg_copy_loads_with_verify_off_and_trains(make_cfg, cifar_root: Path) -> None:
    splits = CIFAR10Source(str(cifar_root), download=False, verify=False).load()
    assert splits.train_images.shape == (50000, 3, 32, 32) and splits.test_images.shape == (10000, 3, 32, 32)
    summary = train(make_cfg("data=cifar10", f"data.root={cifar_root}", "data.verify=false", "optimizer=adam",
                             "data.train_size=10000", "trainer.max_epochs=1", tiny=False))
    assert summary.status == "ok" and summary.val_acc > 0.2  # chance is 0.1


@needs_cifar
@pytest.mark.slow
def test_lbfgs_on_cifar10_records_a_training_loss_on_the_scale_of_its_validation_loss(
    make_cfg, cifar_root: Path
) -> None:
    """Its line search probes huge losses (1.6e12 was recorded before counting only each step's first evaluation).
    This run finishes (a 2-core CPU, 5 min: train and validation loss 2.31, 2 evaluations per step): a divergence
    now is a change to look at, not an outcome to accept."""
    summary = train(make_cfg("data=cifar10", f"data.root={cifar_root}", "data.verify=false", "optimizer=lbfgs",
                             "seed=1", "trainer.max_epochs=2", "trainer.enable_progress_bar=false", tiny=False))
    assert summary.status == "ok", summary.reason
    assert summary.evaluations_per_step > 1  # the line search probed: the losses that must not be recorded
    assert summary.train_loss < 3 * summary.val_loss, (summary.train_loss, summary.val_loss)
