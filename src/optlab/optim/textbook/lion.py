"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the update is the sign of an
interpolation between momentum and gradient, so every coordinate moves by exactly lr; the momentum is then
updated with a second, slower beta. One state tensor per parameter (Adam keeps two).

    w = w * (1 - lr * weight_decay)
    w = w - lr * sign(beta1 * m + (1 - beta1) * grad)
    m = beta2 * m + (1 - beta2) * grad
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optlab.optim.textbook.base import TextbookOptimizer


class Lion(TextbookOptimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0) -> None:
        if lr <= 0 or not all(0 <= beta <= 1 for beta in betas):
            raise ValueError(f"Lion needs lr > 0 and betas in [0, 1], got lr={lr}, betas={betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        momentum = state.setdefault("momentum", torch.zeros_like(param))
        param.mul_(1 - group["lr"] * group["weight_decay"])
        param.sub_(group["lr"] * torch.sign(beta1 * momentum + (1 - beta1) * grad))
        momentum.mul_(beta2).add_((1 - beta2) * grad)
