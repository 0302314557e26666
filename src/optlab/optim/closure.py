"""The closure convention of torch optimizers, in one place for optlab's own."""

from __future__ import annotations

from collections.abc import Callable

import torch


def evaluate(closure: Callable[[], torch.Tensor] | None) -> torch.Tensor | None:
    """Run the closure (forward + backward) with gradients on, inside a step that runs under torch.no_grad().
    Lightning's automatic optimization always passes one: training_step and backward happen in it."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()
