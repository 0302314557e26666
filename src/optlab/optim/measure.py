"""What optlab records about an optimizer: its state's memory, which parameters it updates, and whether it can run."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim import Optimizer

from optlab.optim.hidden_split import HiddenSplitOptimizer


def parts(optimizer: Optimizer) -> list[Optimizer]:
    """The optimizers that actually update parameters (two for a HiddenSplitOptimizer, else itself)."""
    return list(optimizer.parts) if isinstance(optimizer, HiddenSplitOptimizer) else [optimizer]


def state_bytes(optimizer: Optimizer) -> int:
    """Bytes held in tensors of the optimizer's state (Adam: 2 per parameter element, Lion: 1, SGD: 0).

    Counts tensors inside lists too: LBFGS keeps its history as lists of direction tensors.
    """
    return sum(_tensor_bytes(per_param) for part in parts(optimizer) for per_param in part.state.values())


def _tensor_bytes(value: object) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def parameter_assignment(optimizer: Optimizer, model: nn.Module) -> dict[str, list[str]]:
    """Which named parameters each underlying optimizer updates, e.g. {"Muon": [...], "AdamW": [...]}."""
    names = {id(param): name for name, param in model.named_parameters()}
    return {
        type(part).__name__: [names[id(p)] for group in part.param_groups for p in group["params"] if id(p) in names]
        for part in parts(optimizer)
    }


def unsupported_reason(optimizer: Optimizer, model: nn.Module) -> str | None:
    """Why this optimizer cannot train this model at all, or None; such a run is recorded as `skipped`."""
    if isinstance(optimizer, torch.optim.SparseAdam):
        sparse = [m for m in model.modules() if getattr(m, "sparse", False)]
        if not sparse:
            return (
                "SparseAdam does not support dense gradients: "
                f"{type(model).__name__} has no layer with sparse gradients (nn.Embedding(sparse=True)); use adam"
            )
    return None
