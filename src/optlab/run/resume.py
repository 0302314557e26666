"""What `resume=true` continues from, and when it must refuse: nothing a run already wrote is ever lost.

- A finished run (ok, diverged, pruned, skipped: summary.FINISHED) with the same config is skipped, its summary kept.
- A folder whose run had another config is refused, naming the keys that differ; the one change allowed is a
  larger trainer.max_epochs for an unfinished run (train it further). A key that one of the two configs lacks
  (a setting added to optlab since the earlier run, e.g. compile.enabled) counts only when a command line set it:
  otherwise it is at its default, which keeps what the earlier code did, and a newer optlab still resumes.
- An unreadable summary.json is refused: the run's outcome must not be overwritten; the line says what to do.
- An unreadable checkpoints/last.ckpt is moved aside (kept as last.ckpt.corrupt) and the run restarts from
  scratch with a warning: runs are deterministic, so it ends with the numbers it would have had.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from hydra.errors import CompactHydraException

from optlab.config.checks import ConfigError
from optlab.config.moved_targets import current_flat_config
from optlab.config.run_identity import changes_numbers, override_pairs
from optlab.files import first_line
from optlab.run.summary import FINISHED, RunSummary, SummaryError

log = logging.getLogger(__name__)
EXTENSIBLE = "trainer.max_epochs"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"  # written after every epoch (conf/callbacks: checkpoint)


class ResumeError(ConfigError):
    """resume=true cannot continue this folder; the message says why and what to do."""


class SweepStopped(CompactHydraException):
    """A refused resume that stops its sweep (resume_refused=stop). Hydra prints a CompactHydraException as its
    message alone, also when the exception comes back from a joblib worker, and the sweep exits non-zero."""


class RunInterrupted(SystemExit):
    """A run stopped by Ctrl-C or SIGTERM with its state saved. Its message says how to continue what the user
    started: the run, or its sweep; an optlab.tune worker catches it and names its protocol instead."""


def continue_hint(output_dir: Path, sweep_dir: str | None) -> str:
    """How to continue an interrupted run: a sweep continues as a whole, from its folder; a run alone from its own."""
    if sweep_dir is not None:
        return f"continue the sweep with the same command, resume=true and hydra.sweep.dir={sweep_dir}"
    return f"continue with resume=true and hydra.run.dir={output_dir}"


def config_differences(before: dict[str, Any], now: dict[str, Any], overridden: set[str] = frozenset()
                       ) -> dict[str, tuple[Any, Any]]:
    """The keys that change the numbers (the seed too) whose values differ; a key only one side has counts when it
    is in `overridden`."""
    keys = {k for k in (*before, *now) if changes_numbers(k) and ((k in before and k in now) or k in overridden)}
    return {k: (before.get(k), now.get(k)) for k in sorted(keys) if before.get(k) != now.get(k)}


def previous_run(folder: Path, config: dict[str, Any], overrides: list[str]) -> RunSummary | None:
    """The summary a resumed run continues from, None if there is none; ResumeError if it cannot be continued."""
    try:
        previous = RunSummary.read(folder)
    except SummaryError as error:
        raise ResumeError(f"resume: {error}; restore it, or delete it to continue from the checkpoint") from error
    if previous is None or not previous.config:  # nothing recorded to compare with (a run from before optlab 0.2)
        return previous
    overridden = set(override_pairs([*overrides, *previous.overrides]))
    differences = config_differences(current_flat_config(previous.config), config, overridden)
    extended = set(differences) == {EXTENSIBLE} and _larger(*differences[EXTENSIBLE])
    if differences and not (extended and previous.status not in FINISHED):
        listed = ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in differences.items())
        raise ResumeError(f"resume: {folder} holds a {previous.status} run with another config ({listed}); "
                          "run it in a new folder, or drop the changed overrides")
    return previous


def _larger(before: Any, now: Any) -> bool:
    return isinstance(before, int) and isinstance(now, int) and now > before


def usable_checkpoint(path: Path) -> Path | None:
    """`path` when it loads; a truncated or corrupt one is moved aside with a warning and None returned."""
    if not path.is_file():
        return None
    try:
        torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, pickle errors... for damaged files
        kept = path.with_name(path.name + ".corrupt")
        path.replace(kept)
        log.warning("resume: %s is unreadable (%s); kept as %s, restarting this run from scratch",
                    path, first_line(error), kept.name)
        return None
    return path
