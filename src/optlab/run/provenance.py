"""What produced a run: library versions, the device, and the code's git commit, recorded in its summary.json."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from optlab.config.run_identity import flat_config, numbers_identity

PACKAGES = ("optlab", "torch", "lightning", "hydra-core")


@functools.cache
def package_versions() -> dict[str, str]:
    """Looked up once per process: a worker's runs all run the packages it imported."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def device_name(accelerator: str) -> str:
    """The GPU's name when the run uses one, else the CPU's (with its core count)."""
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{cpu_model()} ({os.cpu_count()} cores)"


def device_class(accelerator: str) -> str:
    """"gpu" or "cpu": the kind of device a run on `accelerator` uses here, as its numbers identity names it."""
    if accelerator in ("gpu", "cuda") or accelerator == "auto" and torch.cuda.is_available():
        return "gpu"
    return "cpu"


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.machine()


def git_commit() -> str | None:
    """The commit of the checkout optlab runs from, with "-dirty" when it has uncommitted changes; None when
    optlab is not run from a git checkout (an installed wheel)."""
    folder = Path(__file__).resolve().parents[1]  # optlab's package folder, not run/ alone

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    return f"{commit}-dirty" if dirty else commit


def run_numbers_identity(cfg: DictConfig) -> dict[str, Any]:
    """What decides the numbers of the run `cfg` configures, here (optlab.config.run_identity.numbers_identity): the
    one recipe of a summary's identity and of the run cache's lookups."""
    return numbers_identity(flat_config(cfg), package_versions(), device_class(str(cfg.trainer.accelerator)))
