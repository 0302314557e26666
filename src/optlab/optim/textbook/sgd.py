"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum (Sutskever et al. 2013, in the form
torch.optim.SGD uses: the velocity accumulates gradients, the learning rate multiplies it).

    g = grad + weight_decay * w
    v = momentum * v + g                      (v = g on the first step)
    w = w - lr * v                            heavy ball
    w = w - lr * (g + momentum * v)           Nesterov: the step looks one velocity ahead
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optlab.optim.textbook.base import TextbookOptimizer


class SGD(TextbookOptimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if lr <= 0 or not 0 <= momentum < 1:
            raise ValueError(f"SGD needs lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "nesterov": nesterov})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        g = grad + group["weight_decay"] * param
        if group["momentum"]:
            if "velocity" not in state:
                state["velocity"] = g.clone()
            else:
                state["velocity"].mul_(group["momentum"]).add_(g)
            g = g + group["momentum"] * state["velocity"] if group["nesterov"] else state["velocity"]
        param.sub_(group["lr"] * g)
