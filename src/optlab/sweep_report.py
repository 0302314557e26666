"""Hydra callback: when a multirun ends, write its report into the sweep folder and fail loudly on failed runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from optlab.summary import RunSummary

log = logging.getLogger(__name__)


class ReportOnMultirunEnd(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        summaries = {folder: RunSummary.read(folder) for folder in sorted(p.parent for p in sweep_dir.glob("*/summary.json"))}
        if config.report.enabled and summaries:
            from optlab.report import ReportOptions, write_report

            options = ReportOptions(config.report.target_acc, list(config.report.group_by), config.report.sort_by)
            outputs = write_report([sweep_dir], sweep_dir / "report", options)
            print(f"report: {outputs.figure}\ntable: {outputs.table}")
        failed = [f"{folder.name}: {s.reason}" for folder, s in summaries.items() if s and s.status in ("failed", "running")]
        if failed:
            sys.exit("optlab: failed runs in this sweep:\n  " + "\n  ".join(failed))
