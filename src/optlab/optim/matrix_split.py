"""One optimizer for the 2-D weight matrices, another for every other parameter.

Muon (torch.optim.Muon) orthogonalises its updates and refuses anything that is not a matrix, so a CNN's
biases and 4-D conv kernels need a second optimizer. Lightning's automatic optimization (and every LR
scheduler) wants a single Optimizer, so this class presents the two as one: its param_groups are the two
optimizers' own group dicts, so a scheduler that changes a group's lr changes it where it is used.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

OptimizerFactory = Callable[..., Optimizer]


class MatrixSplitOptimizer(Optimizer):
    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        matrix_optimizer: OptimizerFactory,
        other_optimizer: OptimizerFactory,
    ) -> None:
        params = [p for p in params if p.requires_grad]
        matrices = [p for p in params if p.ndim == 2]
        others = [p for p in params if p.ndim != 2]
        self.parts: list[Optimizer] = []
        if matrices:
            self.parts.append(matrix_optimizer(matrices, lr=lr))
        if others:
            self.parts.append(other_optimizer(others))
        super().__init__(params, {"lr": lr})
        # Share the parts' group dicts and state instead of the copies Optimizer.__init__ made.
        self.param_groups = [group for part in self.parts for group in part.param_groups]
        self.state = ChainMap(*(part.state for part in self.parts))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for part, part_state in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(part_state)
