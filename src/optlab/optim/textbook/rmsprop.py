"""RMSprop (Hinton, Coursera lecture 6e, 2012): Adagrad with a forgetting sum, an exponential moving average of
squared gradients, so the step size can grow again; optional momentum on the scaled gradient (as torch's).

    g = grad + weight_decay * w
    s = alpha * s + (1 - alpha) * g^2
    u = g / (sqrt(s) + eps)
    v = momentum * v + u                      (only with momentum > 0)
    w = w - lr * v                            (w - lr * u without momentum)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optlab.optim.textbook.base import TextbookOptimizer


class RMSprop(TextbookOptimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        if lr <= 0 or not 0 <= alpha < 1:
            raise ValueError(f"RMSprop needs lr > 0 and 0 <= alpha < 1, got lr={lr}, alpha={alpha}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum,
                                  "weight_decay": weight_decay})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        g = grad + group["weight_decay"] * param
        mean_square = state.setdefault("mean_square", torch.zeros_like(param))
        mean_square.mul_(group["alpha"]).add_((1 - group["alpha"]) * g * g)
        scaled = g / (mean_square.sqrt() + group["eps"])
        if group["momentum"]:
            velocity = state.setdefault("velocity", torch.zeros_like(param))
            scaled = velocity.mul_(group["momentum"]).add_(scaled)
        param.sub_(group["lr"] * scaled)
