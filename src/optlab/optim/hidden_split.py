"""One optimizer for a network's hidden weights, another for everything else (Muon's recipe).

Muon's author (Keller Jordan, github.com/KellerJordan/Muon, README): Muon is "for the hidden weights of a neural
network"; "embeddings, classifier heads, and hidden gains/biases should be optimized using standard AdamW"; "for a
ConvNet, you should use Muon to optimize all the convolutional filters except the first one". So the hidden
weights are the parameters of 2 or more dimensions except the first and the last such (the input layer and the
classifier head), in the order the model registers them, which is the order they run for optlab's models and
torchvision's.

Lightning's automatic optimization (and every LR scheduler) wants a single Optimizer, so this class presents the
two as one: its param_groups are the two optimizers' own group dicts, so a scheduler that changes a group's lr
changes it where it is used.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from optlab.optim.closure import evaluate

OptimizerFactory = Callable[..., Optimizer]


def split_hidden(params: Iterable[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(hidden weights, the rest): weights of 2+ dimensions but the first and last go to the first list."""
    params = [p for p in params if p.requires_grad]
    weights = [i for i, p in enumerate(params) if p.ndim >= 2]
    hidden = set(weights[1:-1])
    return [p for i, p in enumerate(params) if i in hidden], [p for i, p in enumerate(params) if i not in hidden]


class HiddenSplitOptimizer(Optimizer):
    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        hidden_optimizer: OptimizerFactory,
        other_optimizer: OptimizerFactory,
    ) -> None:
        params = [p for p in params if p.requires_grad]
        hidden, others = split_hidden(params)
        self.parts: list[Optimizer] = []
        if hidden:
            self.parts.append(hidden_optimizer(hidden, lr=lr))
        if others:
            self.parts.append(other_optimizer(others))
        super().__init__(params, {"lr": lr})
        # Share the parts' group dicts and state instead of the copies Optimizer.__init__ made.
        self.param_groups = [group for part in self.parts for group in part.param_groups]
        self.state = ChainMap(*(part.state for part in self.parts))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = evaluate(closure)
        for part in self.parts:
            part.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for part, part_state in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(part_state)
