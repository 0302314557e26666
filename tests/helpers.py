"""What the tests share: paths, the tiny config, composing configs as the CLI does, running the CLI.

Real data sets are found through environment variables, so a machine that keeps them elsewhere can still run
those tests: OPTLAB_DATASETS (a folder with mnist/*.gz and build_cifar10.py; default ../shared/datasets beside
the checkout) and OPTLAB_FASHION_MNIST (default Debian's /usr/share/datasets/fashion-mnist).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from optlab.config.compose import compose_config as compose_train_config

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATASETS = Path(os.environ.get("OPTLAB_DATASETS", ROOT.parent / "shared" / "datasets"))
FASHION_MNIST = Path(os.environ.get("OPTLAB_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))
SCHEDULERS = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml"))

# Tiny but real: conf/debug/tiny.yaml (2 epochs of 3 batches on synthetic data, quiet, one thread), the same
# choice users have.
TINY = ["debug=tiny"]
# The heartbeat of the protocols whose workers a test kills or stops: a dead worker's trial is retried 20 s after its
# last beat rather than the default's 60, and a live worker is not taken for dead. A beat can be seconds late on a
# loaded 2-core machine (queued behind another worker's SQLite write, whose lock wait is 60 s, or starved of CPU
# while runs train); a 3 s grace would fail a live trial over such a pause. 20 s is ten beats.
HEARTBEAT = ["heartbeat.interval_s=2", "heartbeat.grace_s=20"]

T = TypeVar("T")


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/train.yaml as the CLI would (optlab.config.compose) and register it as the running Hydra
    config."""
    cfg = compose_train_config("train", overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


def run_cli(
    *args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m optlab.train ARGS` in cwd, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "optlab.train", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


def run_main(
    *args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> tuple[object, str]:
    """optlab.train's command line in this process (a second or less, against ~7 s for a fresh interpreter): the
    exit code (SystemExit's code: an int, or the message optlab exits with) and everything printed."""
    from optlab.train import main

    GlobalHydra.instance().clear()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["optlab-train", *args])
    try:
        main()
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """An IDX file (MNIST's format) holding array as uint8, gzipped or raw."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def fake_idx_folder(folder: Path, compress: bool, n_train: int = 12, n_test: int = 4) -> None:
    """A folder of random MNIST-format images and labels under the official file names."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        suffix = ".gz" if compress else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 255, (n, 28, 28)), compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, (n,)), compress)


def closure_step(optimizer: torch.optim.Optimizer, model: torch.nn.Module, images: torch.Tensor,
                 labels: torch.Tensor) -> None:
    """One optimizer step on a cross-entropy closure, as Lightning's automatic optimization passes one (L-BFGS
    calls it several times)."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        return loss

    optimizer.step(closure)


def fake_cifar(root: Path, per_batch: int = 4) -> None:
    """Random images in CIFAR-10's python layout (5 training batches and a test batch of `per_batch` each); its
    MD5 sums are not the real ones, so it reads with verify=false."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 255, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist()}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))


PATTERNS = ("horizontal", "vertical", "checker")


def pattern_image(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size, 3) uint8 image of stripes or a checkerboard at a random phase and colour, with noise: three
    classes a small CNN tells apart in a few epochs, unlike random pixels."""
    period = int(rng.integers(3, 6))
    phase = int(rng.integers(0, period))
    rows, cols = np.indices((size, size)) + phase
    on = {"horizontal": rows // 2 % 2 == 0, "vertical": cols // 2 % 2 == 0,
          "checker": (rows // 2 + cols // 2) % 2 == 0}[kind]
    colour = rng.integers(128, 256, 3)
    image = np.where(on[..., None], colour, 255 - colour) + rng.normal(0, 20, (size, size, 3))
    return image.clip(0, 255).astype(np.uint8)


def make_image_folder(root: Path, per_class: int = 30, size: int = 16, seed: int = 0, suffix: str = ".png",
                      classes: tuple[str, ...] = PATTERNS) -> Path:
    """<root>/<class>/<n>.png, one folder per pattern: ImageFolder's layout, the files a user would have."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):  # class i draws pattern i (mod 3)
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            Image.fromarray(pattern_image(PATTERNS[index % 3], size, rng)).save(root / name / f"{n:03d}{suffix}")
    return root


def run_tune(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m optlab.tune ...` to its end."""
    return subprocess.run([sys.executable, "-m", "optlab.tune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def read_summary(folder: Path) -> dict:
    """The summary.json a run writes in its folder when it ends: what the tests check a run by."""
    return json.loads((folder / "summary.json").read_text())


def runs_with_status(folder: Path, status: str) -> list[Path]:
    """The run folders under `folder` whose summary.json says `status` (what a running protocol has done so far)."""
    found = []
    for path in folder.rglob("summary.json"):
        with contextlib.suppress(ValueError):  # a summary being written at this moment: seen on the next look
            if read_summary(path.parent)["status"] == status:
                found.append(path.parent)
    return found


def runs_midway(folder: Path) -> list[Path]:
    """The run folders under `folder` that are training now: a checkpoint saved, no summary.json yet (a run writes
    its summary when it ends)."""
    return [ckpt.parent.parent for ckpt in folder.rglob("checkpoints/last.ckpt")
            if not (ckpt.parent.parent / "summary.json").exists()]


def worker_training(out: Path) -> int | None:
    """The pid of a worker of the protocol in `out` that is in the middle of a run now (it holds the run's
    train.log open), or None."""
    pids = subprocess.run(["pgrep", "-f", f"hydra.sweep.dir={out.resolve()}/workers/"], capture_output=True,
                          text=True).stdout.split()
    midway = {str(run.resolve() / "train.log") for run in runs_midway(out)}
    for pid in pids:
        with contextlib.suppress(OSError):  # a worker that has just ended
            if any(os.readlink(fd) in midway for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return int(pid)
    return None


def wait_until(predicate: Callable[[], T], timeout_s: float, what: str, every_s: float = 0.05) -> T:
    """Look every `every_s` until `predicate` returns something true, and return it; fail the test, naming `what`
    (what it waited for), once timeout_s have passed. A loop that just stops looking at its deadline lets the test go
    on to kill or stop something that never happened, and fail later for a reason that hides this one."""
    deadline = time.monotonic() + timeout_s
    while not (found := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}", pytrace=False)
        time.sleep(every_s)
    return found


@contextlib.contextmanager
def killed_at_exit(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """`process`, killed when the block ends if it still runs (its whole session where it leads one: a protocol's
    workers with it), as when a wait_until fails before the test stops it: no run goes on training into the next
    tests on the machine's two cores."""
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if os.getsid(process.pid) == process.pid:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
            process.wait()  # not communicate(): a child of a process killed alone may hold its pipes open
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def assert_one_line(text: str, expected: str) -> str:
    """An error said as a user should get it: exactly one line (no blank line before or after it, a line ending
    allowed), holding `expected`, and no Python traceback. Returns the line, for tests that check it whole."""
    lines = text.splitlines()
    assert "Traceback" not in text, text[-3000:]
    assert len(lines) == 1 and lines[0].strip(), f"not one line:\n{text[-3000:]}"
    assert expected in lines[0], (expected, lines[0])
    return lines[0]


def docs_example(page: str, marker: str) -> str:
    """The fenced block right after `<!-- example: marker -->` in docs/<page>: the tests run what users read."""
    text = (ROOT / "docs" / page).read_text()
    after = text.split(f"<!-- example: {marker} -->\n", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]
