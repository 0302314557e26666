"""Muon for hidden weights of any rank: matrices as they are, convolution filters viewed as matrices.

torch.optim.Muon refuses anything that is not 2-D, yet its author's recipe puts a ConvNet's hidden convolution
filters on Muon "by viewing them as 2D and then collapsing their last 3 dimensions" (Keller Jordan,
github.com/KellerJordan/Muon, muon.py). This is torch.optim.Muon's update rule (same Newton-Schulz coefficients,
bfloat16 iteration, Nesterov momentum, decoupled weight decay and "original" lr adjustment) applied to
`param.view(len(param), -1)`; tests check it against torch.optim.Muon step by step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer

from optlab.optim.closure import evaluate

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # the author's quintic iteration, also torch's defaults
EPS = 1e-7


def newton_schulz(matrix: torch.Tensor, steps: int) -> torch.Tensor:
    """An approximately orthogonal matrix with matrix's singular vectors (U S' V^T, S' near 1), in bfloat16."""
    a, b, c = NS_COEFFICIENTS
    wide = matrix.bfloat16()
    tall = matrix.size(0) > matrix.size(1)
    if tall:
        wide = wide.T
    wide = wide / wide.norm().clamp(min=EPS)  # spectral norm <= Frobenius norm = 1
    for _ in range(steps):
        gram = wide @ wide.T
        wide = torch.addmm(wide, torch.addmm(gram, gram, gram, beta=b, alpha=c), wide, beta=a)
    return wide.T if tall else wide


def muon_update(
    grad: torch.Tensor, momentum_buffer: torch.Tensor, momentum: float, nesterov: bool, ns_steps: int
) -> torch.Tensor:
    """Momentum (updated in place), then its orthogonalised direction as a (rows, rest) matrix."""
    momentum_buffer.lerp_(grad, 1 - momentum)
    direction = grad.lerp(momentum_buffer, momentum) if nesterov else momentum_buffer
    return newton_schulz(direction.reshape(len(direction), -1), ns_steps)


def adjusted_lr(lr: float, rows: int, cols: int) -> float:
    """torch's "original" adjustment (Keller Jordan's): tall matrices take sqrt(rows/cols) larger steps."""
    return lr * math.sqrt(max(1.0, rows / cols))


class Muon(Optimizer):
    """MomentUm Orthogonalized by Newton-Schulz, for parameters with 2 or more dimensions."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.02,
        weight_decay: float = 0.0,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"Invalid momentum value: {momentum} (must be in [0, 1))")
        if not weight_decay >= 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (isinstance(ns_steps, int) and ns_steps >= 1):
            raise ValueError(f"Invalid ns_steps: {ns_steps} (a whole number of Newton-Schulz iterations, e.g. 5)")
        params = list(params)
        flat = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
        if any(p.ndim < 2 for p in flat):
            raise ValueError("Muon updates only weights with 2 or more dimensions; give biases and gains to AdamW")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                                  "nesterov": nesterov, "ns_steps": ns_steps})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = evaluate(closure)
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                update = muon_update(param.grad, state["momentum_buffer"], group["momentum"], group["nesterov"],
                                     group["ns_steps"])
                param.mul_(1 - group["lr"] * group["weight_decay"])
                param.add_(update.view_as(param).to(param.dtype),
                           alpha=-adjusted_lr(group["lr"], update.size(0), update.size(1)))
        return loss
