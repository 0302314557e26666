"""optlab.tune's run cache (`cache=[<protocol folder>, ...]`): nothing computed twice.

Before a worker runs a queued rerun (selection, tuned, default), it works out the run's numbers identity (its
config's keys that change numbers, the seed, the versions of optlab and torch, the kind of device:
optlab.config.run_identity.numbers_identity) and looks for a finished run with the same identity in the cache's
folders. Found: the run's folder in this protocol becomes a link to that run, and its summary is told to the trial;
nothing trains. A run of the same config that ran other versions or on another kind of device is not reused, and the
worker's line says what differs. `test` is not part of the identity (it changes no number the run trains to), so a
run that skipped its test (a selection run) serves only runs that skip theirs too.

A run counts when it finished on its own terms: ok, diverged or skipped. A pruned or interrupted run stopped for a
reason of its own protocol. Search trials are never drawn from the cache: each reports to its own study's pruner.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from optlab.run.provenance import run_numbers_identity
from optlab.run.summary import FILENAME, RunSummary, Status, SummaryError

REUSABLE = (Status.OK, Status.DIVERGED, Status.SKIPPED)
CACHED_STAGES = ("selection", "tuned", "default")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lookup:
    """What the cache holds for a run: the finished run to reuse, or why a run of the same config is not reused."""

    folder: Path | None = None
    why_not: str = ""


@dataclass(frozen=True)
class Cached:
    """A finished run in the cache: its folder, its numbers identity, and whether it holds a test result."""

    folder: Path
    identity: dict[str, Any]
    tested: bool


class RunCache:
    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self._index: dict[str, list[Cached]] | None = None

    def lookup(self, identity: dict[str, Any], tested: bool) -> Lookup:
        """The finished run with this identity (and a test result, when `tested` asks for one), or why none is."""
        same_config = self._runs().get(identity["config"], [])
        for run in same_config:
            if run.identity == identity and (run.tested or not tested):
                return Lookup(run.folder)
        if not same_config:
            return Lookup()
        # The run that differs least: one of this very identity that was not tested, else the first found.
        closest = next((run for run in same_config if run.identity == identity), same_config[0])
        differences = _differences(closest.identity, identity) or "no test result (this run asks for one)"
        return Lookup(why_not=f"{closest.folder} ran the same config with {differences}")

    def _runs(self) -> dict[str, list[Cached]]:
        """Per config hash, the finished runs under the cache's folders and whether each has its test result (read
        once: they are other protocols')."""
        if self._index is None:
            self._index = {}
            for folder in self.folders:
                for run in _run_folders(folder):
                    summary = _finished(run)
                    if summary is not None and summary.identity:
                        self._index.setdefault(summary.identity["config"], []).append(
                            Cached(run, summary.identity, _has_test_result(summary)))
        return self._index


def reuse(cache: RunCache, cfg: DictConfig) -> Lookup:
    """Link the run `cfg` configures to a finished run of the same identity, if the cache has one; a run begun in
    this protocol already (its folder exists) continues as its own."""
    run_folder = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
    if run_folder.exists():
        return Lookup()
    HydraConfig.instance().set_config(cfg)  # as the launcher does before each job: ${hydra:...} resolves as in the run
    found = cache.lookup(run_numbers_identity(cfg), tested=bool(cfg.test))
    if found.folder is not None:
        run_folder.parent.mkdir(parents=True, exist_ok=True)
        run_folder.symlink_to(found.folder.resolve(), target_is_directory=True)
    return found


def _run_folders(root: Path) -> list[Path]:
    """Folders under `root` holding a summary.json, links not followed (a protocol's reused runs are links into
    the cache it drew from; the runs themselves are found there)."""
    return [Path(path) for path, _, files in os.walk(root) if FILENAME in files]


def _finished(folder: Path) -> RunSummary | None:
    try:
        summary = RunSummary.read(folder)
    except SummaryError as error:
        log.warning("the run cache leaves out %s", error)
        return None
    return summary if summary is not None and summary.status in REUSABLE else None


def _has_test_result(summary: RunSummary) -> bool:
    """A finished run that was tested, or one that had nothing to test (it diverged or was skipped)."""
    return summary.status != Status.OK or math.isfinite(summary.test_acc)


def _differences(recorded: dict[str, Any], now: dict[str, Any]) -> str:
    """`torch 2.13.0 (now 2.14.1)`, `device cpu (now gpu)`."""
    changed = [f"{name} {version} (now {now['versions'].get(name)})" for name, version in recorded["versions"].items()
               if version != now["versions"].get(name)]
    if recorded["device"] != now["device"]:
        changed.append(f"device {recorded['device']} (now {now['device']})")
    return ", ".join(changed)
