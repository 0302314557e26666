"""One line per event on the console, and nothing the user cannot act on; all of it decided here.

Under Hydra the root logger prints (and writes the job's train.log); Lightning adds a stream handler of its own to
its `lightning` logger, which also propagates to the root, so every Lightning message came out twice. Lightning
also prints an advertisement for its cloud logger on every run, and a deprecation warning that only its own
developers can act on.
"""

from __future__ import annotations

import logging
import warnings

ADVERTISEMENTS = ("litlogger",)
NOT_THE_USERS_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # raised inside Lightning's own code
    r".*does not have many workers.*",  # optlab's data lives in memory: worker processes would only cost start-up
)


class DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(word in message for word in ADVERTISEMENTS)


def tidy_console() -> None:
    """Run at the start of each job, after Lightning is imported; calling it twice changes nothing."""
    root = logging.getLogger()
    if root.handlers:  # Hydra's console and file handlers: let them print Lightning's records, once
        lightning = logging.getLogger("lightning")
        for handler in [h for h in lightning.handlers if type(h) is logging.StreamHandler]:
            lightning.removeHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, DropAdvertisements) for f in handler.filters):
            handler.addFilter(DropAdvertisements())
    for message in NOT_THE_USERS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
