"""The weights an optimizer is evaluated with, when they are not the ones it trains: ASGD's averages, and the
schedule-free optimizers' evaluation point.

torch.optim.ASGD keeps the running average of the iterates in its state (`ax`, one tensor per parameter) and
never writes it into the model, so evaluating the model evaluates plain SGD's iterate. Polyak-Juditsky averaging
means evaluating the average: optlab swaps it in for validation and testing and swaps the trained weights back
before training resumes. Before averaging starts (step <= t0), `ax` equals the weights, so the swap is a no-op.

Schedule-free optimizers (Defazio et al. 2024; pytorch-optimizer's ScheduleFreeSGD/AdamW/RAdam, SPlus) train at an
interpolated point and are meant to be evaluated at their averaged sequence: their authors' API is
`optimizer.eval()` before evaluating and `optimizer.train()` after, which move the weights in place.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer

from optlab.optim.measure import parts


def averaged_weights(optimizer: Optimizer) -> dict[torch.Tensor, torch.Tensor]:
    """{parameter: its running average} for every parameter whose optimizer keeps one (ASGD's `ax`)."""
    return {param: state["ax"] for part in parts(optimizer) if isinstance(part, torch.optim.ASGD)
            for param, state in part.state.items() if "ax" in state}


@torch.no_grad()
def swap_in_averages(optimizer: Optimizer) -> dict[torch.Tensor, torch.Tensor]:
    """Copy the averages into the parameters; returns the weights they held, for restore_weights."""
    saved = {}
    for param, average in averaged_weights(optimizer).items():
        saved[param] = param.detach().clone()
        param.copy_(average)
    return saved


@torch.no_grad()
def restore_weights(saved: dict[torch.Tensor, torch.Tensor]) -> None:
    for param, weights in saved.items():
        param.copy_(weights)


def switch_to_evaluation(optimizer: Optimizer) -> list[Optimizer]:
    """Put every part that has an evaluation mode (schedule-free optimizers) into it; returns those parts."""
    switched = [part for part in parts(optimizer) if callable(getattr(part, "eval", None))]
    for part in switched:
        part.eval()
    return switched


def switch_to_training(switched: list[Optimizer]) -> None:
    for part in switched:
        part.train()
