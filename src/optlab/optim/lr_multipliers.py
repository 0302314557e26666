"""LR schedules that torch lacks, as pure multipliers of each parameter group's own lr.

Each multiplier maps a scheduler step t (0, 1, ...) to a factor; multiplier_scheduler wraps one in a LambdaLR.
Working with factors rather than absolute lrs is what lets one schedule serve every optimizer, including
those with several parameter groups at different lrs (Muon + AdamW).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def inverse_power(step: int, power: float) -> float:
    """lr_t = lr_0 / t^power with t counted from 1 (the course slides use power 0.3)."""
    return (step + 1) ** -power


def warmup_cosine(step: int, total_steps: int, warmup_fraction: float, min_factor: float) -> float:
    """Linear warm-up to 1 over the first warmup_fraction of the run, then cosine decay to min_factor."""
    warmup = max(1, round(warmup_fraction * total_steps))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def one_cycle(step: int, total_steps: int, pct_start: float, div_factor: float, final_div_factor: float) -> float:
    """The one-cycle policy (Smith & Topin 2018), as torch's OneCycleLR with cosine annealing, relative to lr.

    1. Warm up from 1/div_factor to 1 over the first pct_start of the steps (cosine-shaped).
    2. Anneal from 1 to 1/(div_factor * final_div_factor) over the rest.
    """
    start, low = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)
    peak_step = pct_start * total_steps - 1
    if step <= peak_step:
        return _cosine_between(start, 1.0, step / max(peak_step, 1e-12))
    return _cosine_between(1.0, low, min(1.0, (step - peak_step) / max(total_steps - 1 - peak_step, 1e-12)))


def _cosine_between(begin: float, end: float, progress: float) -> float:
    assert 0.0 <= progress <= 1.0 + 1e-9, progress
    return end + (begin - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def multiplier_scheduler(
    optimizer: Optimizer, multiplier: Callable[..., float], total_steps: int | None = None
) -> LambdaLR:
    """A LambdaLR that scales every group's lr by multiplier(step[, total_steps])."""
    if total_steps is not None:
        multiplier = functools.partial(multiplier, total_steps=total_steps)
    return LambdaLR(optimizer, lr_lambda=multiplier)
