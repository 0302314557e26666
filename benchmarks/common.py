"""What the harnesses share: optlab launched as a user launches it, measures taken in turns and their ratios, and an
optlab setting's data, model and optimizer built in-process from the same composed config, for the loops that are
compared with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from optlab.config.compose import compose_config
from optlab.models.contract import build_model

ROOT = Path(__file__).resolve().parents[1]


# ---- measures in turns ----------------------------------------------------------------------------------------------


def steady(epoch_times: list[float]) -> float:
    """Seconds per epoch once running: the median of the epochs after the first, so that start-up and first-step
    compilation are left out."""
    return statistics.median(epoch_times[1:])


@dataclass(frozen=True)
class Rounds:
    """Seconds of several measures taken in turns, one of each per round."""

    seconds: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def ratios(self, name: str, base: str) -> list[float]:
        return [a / b for a, b in zip(self.seconds[name], self.seconds[base], strict=True)]

    def ratio(self, name: str, base: str) -> float:
        """The median of the rounds' ratios: a slow spell of the machine (seen here: the same loop 30% slower for
        tens of seconds) falls on both sides of one round's ratio."""
        return statistics.median(self.ratios(name, base))

    def ratio_text(self, name: str, base: str) -> str:
        """The ratio and each round's, '1.043 (1.010, 1.043, 1.120)': its spread is part of the figure."""
        return f"{self.ratio(name, base):.3f} ({', '.join(f'{r:.3f}' for r in self.ratios(name, base))})"


def in_turns(repeats: int, measures: Mapping[str, Callable[[], float]]) -> Rounds:
    """`repeats` rounds, each taking every measure once in the given order; each round printed as it ends."""
    rounds = Rounds({name: [] for name in measures})
    for number in range(1, repeats + 1):
        for name, measure in measures.items():
            rounds.seconds[name].append(measure())
        taken = ", ".join(f"{name} {values[-1]:.2f} s" for name, values in rounds.seconds.items())
        print(f"    round {number}: {taken}", flush=True)
    return rounds


def machine_line(device: str) -> str:
    """torch's version and threads and the hardware: what every figure is read against."""
    hardware = torch.cuda.get_device_name(0) if device == "cuda" else f"{os.cpu_count()} CPU cores"
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads, {hardware}"


# ---- optlab as a user runs it ---------------------------------------------------------------------------------------


def child_env(site: Path | None = None) -> dict[str, str]:
    """The environment of a launched command: `site` first when given (optlab installed from another tree, so that
    its code and configs are the ones that run), then this checkout's root, where an optlab run's config finds
    benchmarks.callbacks; the caller's PYTHONPATH kept after them."""
    paths = [str(site) if site else None, str(ROOT), os.environ.get("PYTHONPATH")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def launch(module: str, arguments: list[str], site: Path | None = None, python: str = sys.executable) -> float:
    """Wall seconds of `python -m MODULE ARGUMENTS`, started from this checkout's root; a failure ends the harness
    with the tail of the command's stderr, not a traceback of the harness."""
    start = time.perf_counter()
    result = subprocess.run([python, "-m", module, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=child_env(site))
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench: {module} failed ({shlex.join(arguments)}):\n{result.stderr[-3000:]}")
    return seconds


@dataclass(frozen=True)
class Run:
    """What the harnesses read of a finished optlab run: its wall time, its summary.json and its epochs' seconds."""

    seconds: float
    summary: dict[str, Any]
    epoch_times: list[float]


def optlab_train(overrides: list[str], site: Path | None = None) -> Run:
    """`python -m optlab.train OVERRIDES` (optlab from `site` if given) in a scratch folder, removed once read."""
    with tempfile.TemporaryDirectory(prefix="optlab-bench-") as scratch:
        folder = Path(scratch)
        seconds = launch("optlab.train", [*overrides, f"hydra.run.dir={folder}"], site)
        summary = json.loads((folder / "summary.json").read_text())
        return Run(seconds, summary, summary.get("epoch_times_s") or tensorboard_epoch_times(folder))


def timed_run(overrides: list[str], epochs: int, site: Path | None = None) -> Run:
    """An optlab run of `epochs` epochs, timed by its own clock, with no progress bar drawn between its steps."""
    return optlab_train([*overrides, f"trainer.max_epochs={epochs}", "trainer.enable_progress_bar=false"], site)


def tensorboard_epoch_times(folder: Path) -> list[float]:
    """Each epoch's seconds from the run's `time/epoch_s` TensorBoard values: for runs of code older than
    summary.json's epoch_times_s, which --against may time."""
    from tbparse import SummaryReader  # pandas and TensorBoard's reader: loaded only for such a run

    scalars = SummaryReader(str(folder)).scalars
    return scalars[scalars["tag"] == "time/epoch_s"].sort_values("step")["value"].tolist()


def optlab_sweep(overrides: list[str]) -> tuple[float, dict[str, dict[str, Any]]]:
    """Wall seconds of `python -m optlab.train -m OVERRIDES` and each run's summary.json, by run folder."""
    with tempfile.TemporaryDirectory(prefix="optlab-sweep-") as scratch:
        seconds = launch("optlab.train", ["-m", *overrides, f"hydra.sweep.dir={scratch}"])
        return seconds, {p.parent.name: json.loads(p.read_text()) for p in Path(scratch).glob("*/summary.json")}


def absolute_path(text: str) -> Path:
    """A path option made absolute where it is given: the runs a harness launches start from this checkout's root."""
    return Path(text).resolve()


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """--root and --verify: where the data set is, and whether its files must match the official checksums."""
    parser.add_argument("--root", type=absolute_path, default="data",
                        help="data.root (for CIFAR-10: the folder holding cifar-10-batches-py/)")
    parser.add_argument("--verify", default="true", choices=("true", "false"),
                        help="data.verify: false for a re-encoded copy (the JPEG copy of CIFAR-10)")


def data_overrides(name: str, root: Path, verify: str) -> list[str]:
    """The overrides that point optlab at a data set's copy."""
    return [f"data={name}", f"data.root={root}", f"data.verify={verify}"]


# ---- a setting, built in-process ------------------------------------------------------------------------------------


def new_model(config: DictConfig, input_shape: tuple[int, ...], num_classes: int, seed: int) -> torch.nn.Module:
    """The configured model (config.model) with the initial weights `seed` gives it, built as optlab builds it."""
    torch.manual_seed(seed)
    return build_model(config.model, input_shape, num_classes)


@dataclass(frozen=True)
class Setting:
    """An optlab setting as its run sees it: training and validation images (uint8, split as optlab splits them),
    their normalisation, the model and the optimizer. The loops compared with optlab train this, so that they train
    what optlab trains, and no figure of a config is copied into a harness."""

    config: DictConfig
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_shape: tuple[int, ...]
    num_classes: int

    @property
    def eval_batch_size(self) -> int:
        return self.config.data.eval_batch_size

    def new_model(self) -> torch.nn.Module:
        return new_model(self.config, self.input_shape, self.num_classes, self.config.seed)

    def new_optimizer(self, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return instantiate(self.config.optimizer, _convert_="all")(parameters)  # as a run builds it


def composed_setting(overrides: list[str]) -> Setting:
    """The setting `python -m optlab.train OVERRIDES` trains, its data loaded and split in this process."""
    from optlab.data.datamodule import ready_datamodule  # Lightning: seconds to import, for the harnesses that train

    config = compose_config("train", overrides)
    datamodule = ready_datamodule(config.data)
    train, val = datamodule.parts["train"], datamodule.parts["val"]
    return Setting(config, (train.images, train.labels), (val.images, val.labels), tuple(datamodule.mean),
                   tuple(datamodule.std), datamodule.input_shape, datamodule.num_classes)
