"""One trajectory job: one optimizer config on one test function, its lr picked on the grid, written as
trajectory.json into the job's folder."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from optlab.optim.hidden_split import HiddenSplitOptimizer
from optlab.trajectories.descent import OptimizerFactory, choose_lr
from optlab.trajectories.record import TrajectoryRecord

log = logging.getLogger(__name__)


def not_applicable(make_optimizer: OptimizerFactory) -> str | None:
    """Why this optimizer has no meaningful path on a 2-D function, or None."""
    probe = make_optimizer(params=[torch.zeros(2, requires_grad=True)])
    if isinstance(probe, torch.optim.SparseAdam):
        return "SparseAdam updates sparse gradients only (embeddings); a point's gradient is dense"
    if isinstance(probe, HiddenSplitOptimizer):
        return "Muon orthogonalizes weight matrices; a point in the plane is a vector, so only its AdamW part would run"
    return None


def trace(cfg: DictConfig, optimizer_name: str, output_dir: Path) -> TrajectoryRecord:
    function = instantiate(cfg.function, _convert_="all")
    make_optimizer = instantiate(cfg.optimizer)
    reason = not_applicable(make_optimizer)
    if reason:
        log.warning("%s skipped: %s", optimizer_name, reason)
        record = TrajectoryRecord(optimizer_name, function.name, "skipped", reason)
    else:
        result = choose_lr(function, make_optimizer, list(cfg.lr_grid), cfg.steps)
        chosen = result.chosen
        record = TrajectoryRecord(
            optimizer_name, function.name, "ok", lr=chosen.lr,
            lr_scores={f"{lr:g}": score for lr, score in result.scores.items()}, score=chosen.score,
            points=chosen.points, values=chosen.values, left_box_at=chosen.left_box_at,
        )
        log.info("%s on %s: lr %g, final value %.4g", optimizer_name, function.name, chosen.lr, chosen.values[-1])
    record.write(output_dir)
    return record
