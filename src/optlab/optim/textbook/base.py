"""What every textbook optimizer shares: the closure, the loop over parameters, lazily created state.

A subclass writes only its update rule, `update(param, grad, state, group)`, for one parameter tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer

from optlab.optim.closure import evaluate


class TextbookOptimizer(Optimizer):
    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change `param` in place from its gradient; `state` starts empty and persists across steps."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = evaluate(closure)
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    state = self.state[param]
                    state["step"] = state.get("step", 0) + 1
                    self.update(param, param.grad, state, group)
        return loss
