"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019): momentum (first moment m) divided by an RMSprop
scale (second moment v), both bias-corrected for their zero start.

    g = grad + weight_decay * w               Adam: decay as an L2 term in the gradient
    w = w * (1 - lr * weight_decay)           AdamW instead: decay decoupled from the adaptive scaling
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    w = w - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optlab.optim.textbook.base import TextbookOptimizer


class Adam(TextbookOptimizer):
    decoupled_weight_decay = False

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if lr <= 0 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"{type(self).__name__} needs lr > 0 and betas in [0, 1), got lr={lr}, betas={betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        t = state["step"]
        if self.decoupled_weight_decay:
            param.mul_(1 - group["lr"] * group["weight_decay"])
            g = grad
        else:
            g = grad + group["weight_decay"] * param
        m = state.setdefault("first_moment", torch.zeros_like(param))
        v = state.setdefault("second_moment", torch.zeros_like(param))
        m.mul_(beta1).add_((1 - beta1) * g)
        v.mul_(beta2).add_((1 - beta2) * g * g)
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        param.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))


class AdamW(Adam):
    decoupled_weight_decay = True

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
