"""Adagrad (Duchi, Hazan & Singer 2011): each coordinate's step shrinks with the sum of its squared gradients, so
rarely-updated coordinates keep large steps and the effective learning rate only ever decreases.

    g = grad + weight_decay * w
    s = s + g^2
    w = w - lr * g / (sqrt(s) + eps)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optlab.optim.textbook.base import TextbookOptimizer


class Adagrad(TextbookOptimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-2, weight_decay: float = 0.0,
                 eps: float = 1e-10) -> None:
        if lr <= 0:
            raise ValueError(f"Adagrad needs lr > 0, got {lr}")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "eps": eps})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        g = grad + group["weight_decay"] * param
        squares = state.setdefault("sum_of_squares", torch.zeros_like(param))
        squares.add_(g * g)
        param.sub_(group["lr"] * g / (squares.sqrt() + group["eps"]))
