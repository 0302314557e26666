"""LR multipliers are pure functions: checked by hand and against torch's own OneCycleLR."""

from __future__ import annotations

import math

import pytest
import torch

from optlab.optim.lr_multipliers import inverse_power, multiplier_scheduler, one_cycle, warmup_cosine


def test_inverse_power_is_lr0_over_t_to_the_power() -> None:
    assert inverse_power(0, 0.3) == 1.0
    assert inverse_power(9, 0.3) == pytest.approx(10**-0.3)


def test_warmup_cosine_rises_linearly_then_decays_to_min_factor() -> None:
    factors = [warmup_cosine(t, total_steps=100, warmup_fraction=0.1, min_factor=0.1) for t in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:], strict=False))
    assert factors[-1] == pytest.approx(0.1, abs=1e-3)


def test_one_cycle_matches_torch_onecycle_lr() -> None:
    total, lr = 50, 0.1
    param = torch.nn.Parameter(torch.zeros(1))
    reference = torch.optim.SGD([param], lr=lr)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(
        reference, max_lr=lr, total_steps=total, pct_start=0.3, div_factor=25, final_div_factor=1e4,
        cycle_momentum=False,
    )
    ours = [lr * one_cycle(t, total, 0.3, 25.0, 1e4) for t in range(total)]
    theirs = []
    for _ in range(total):
        theirs.append(reference.param_groups[0]["lr"])
        reference.step()
        torch_schedule.step()
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_multiplier_scheduler_scales_each_group_from_its_own_lr() -> None:
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.01}])
    scheduler = multiplier_scheduler(optimizer, lambda t, total_steps: 1 - t / total_steps, total_steps=4)
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.75, 0.0075])
    assert not math.isnan(scheduler.get_last_lr()[0])
