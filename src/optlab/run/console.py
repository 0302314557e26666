"""One line per event on the console, and nothing the user cannot act on; all of it decided here.

Inside a multirun the console shows each run's one line (optlab.run.sweep_progress), warnings and errors; everything
else a job logs (Lightning's model summary, the data set loaded, the checkpoint written) goes to its train.log only:
36 runs' worth of it buried the lines that matter.

Under Hydra the root logger prints (and writes the job's train.log); Lightning adds a stream handler of its own to
its `lightning` logger, which also propagates to the root, so every Lightning message came out twice. Lightning
also prints an advertisement for its cloud logger on every run, and a deprecation warning that only its own
developers can act on.
"""

from __future__ import annotations

import logging
import warnings

from optlab.run.sweep_progress import LOGGER as SWEEP_LOGGER

ADVERTISEMENTS = ("litlogger",)
NOT_THE_USERS_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # raised inside Lightning's own code
    r".*does not have many workers.*",  # optlab's data lives in memory: worker processes would only cost start-up
    # On a machine with SLURM's client: optlab's SLURM jobs come from hydra/launcher=slurm, not from srun by hand
    r".*The `srun` command is available on your system but is not used.*",
)


# A run's own line about how it ended (skipped, diverged): the sweep's progress line says the same with the reason,
# so inside a multirun it goes to the run's train.log only; a run started alone prints it.
RUN_OUTCOME = {"run_outcome": True}


class SweepConsole(logging.Filter):
    """A multirun job's console: warnings, errors and the sweep's progress lines (those as they are, without the
    time and logger name of the log file's format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "run_outcome", False):
            return False
        return record.levelno >= logging.WARNING or record.name == SWEEP_LOGGER


class SweepConsoleFormatter(logging.Formatter):
    def __init__(self, usual: logging.Formatter | None) -> None:
        super().__init__()
        self.usual = usual or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage() if record.name == SWEEP_LOGGER else self.usual.format(record)


class DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(word in message for word in ADVERTISEMENTS)


def tidy_console(multirun: bool) -> None:
    """Run at the start of each job, after Lightning is imported; calling it twice changes nothing."""
    root = logging.getLogger()
    if root.handlers:  # Hydra's console and file handlers: let them print Lightning's records, once
        lightning = logging.getLogger("lightning")
        for handler in [h for h in lightning.handlers if type(h) is logging.StreamHandler]:
            lightning.removeHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, DropAdvertisements) for f in handler.filters):
            handler.addFilter(DropAdvertisements())
        console = type(handler) is logging.StreamHandler  # Hydra's file handler is a FileHandler
        if multirun and console and not any(isinstance(f, SweepConsole) for f in handler.filters):
            handler.addFilter(SweepConsole())
            handler.setFormatter(SweepConsoleFormatter(handler.formatter))
    for message in NOT_THE_USERS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
