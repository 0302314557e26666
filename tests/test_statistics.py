"""The interval beside a verdict agrees with it: drawn at the level Holm's correction tested the comparison, it
excludes zero exactly when the verdict separates; ties within statistics.TIE share a rank."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optlab.report.statistics import (
    ALPHA,
    SEPARATED,
    holm,
    holm_confidence,
    paired_comparison,
    tie_ranks,
    verdict,
)


def excludes_zero(low: float, high: float) -> bool:
    return low > 0 or high < 0


def test_an_interval_at_holms_level_excludes_zero_exactly_when_holm_separates() -> None:
    """300 random families (1-8 comparisons, 3-6 paired seeds): agreement on every comparison, including those whose
    unadjusted 95% interval excludes zero while Holm does not separate (the reviewer's SGD, -6.14 [-11.33, -0.95],
    p_Holm 0.36): that case must occur, or the test would not test it."""
    rng = np.random.default_rng(39)
    outcomes = {"separated": 0, "not separated": 0, "95% clear of 0, not separated": 0}
    for _ in range(300):
        seeds = range(int(rng.integers(3, 7)))
        reference = {s: 0.85 + rng.normal(0, 0.02) for s in seeds}
        comparisons = [paired_comparison({s: reference[s] + shift + rng.normal(0, 0.01) for s in seeds}, reference)
                       for shift in rng.normal(0, 0.012, int(rng.integers(1, 9)))]
        for c, p_holm in zip(comparisons, holm([c.p_value for c in comparisons]), strict=True):
            drawn = c.interval(holm_confidence(c.p_value, p_holm))
            separated = verdict(c.difference.mean, p_holm, c.difference.n) in SEPARATED
            assert excludes_zero(drawn.low, drawn.high) == separated, (c, p_holm)
            outcomes["separated" if separated else "not separated"] += 1
            if not separated and excludes_zero(c.difference.low, c.difference.high):
                outcomes["95% clear of 0, not separated"] += 1
    assert min(outcomes.values()) > 10, outcomes


def test_the_levels_are_holms_step_down_levels_and_its_monotone_stop() -> None:
    """p 0.001, 0.01, 0.02, 0.5: Holm tests them at 0.05/4, /3, /2, /1. p 0.03, 0.04: Holm stops at the first
    (0.06), so the second (0.04 < 0.05 alone) is not separated either: its level is above 95%, and its interval
    contains zero."""
    p_values = [0.001, 0.01, 0.02, 0.5]
    levels = [holm_confidence(p, q) for p, q in zip(p_values, holm(p_values), strict=True)]
    assert levels == pytest.approx([1 - ALPHA / 4, 1 - ALPHA / 3, 1 - ALPHA / 2, 1 - ALPHA])
    stopped = holm([0.03, 0.04])
    assert stopped == pytest.approx([0.06, 0.06])
    assert holm_confidence(0.04, stopped[1]) == pytest.approx(1 - ALPHA * 0.04 / 0.06)
    assert math.isnan(holm_confidence(math.nan, math.nan)) and holm_confidence(0.0, 0.0) == 1 - ALPHA


def test_a_stopped_step_down_interval_contains_zero() -> None:
    """Two comparisons with p 0.030 and 0.046: each 95% interval excludes zero, Holm's (p_Holm 0.060) does not."""
    reference = {1: 0.80, 2: 0.85, 3: 0.90, 4: 0.82}
    first, second = (paired_comparison({s: reference[s] + d for s, d in zip(reference, shifts, strict=True)}, reference)
                     for shifts in ((0.01, 0.02, 0.008, 0.025), (0.01, 0.02, 0.005, 0.025)))
    adjusted = holm([first.p_value, second.p_value])
    assert first.p_value < ALPHA and second.p_value < ALPHA and min(adjusted) >= ALPHA
    for c, p_holm in zip((first, second), adjusted, strict=True):
        assert excludes_zero(c.difference.low, c.difference.high)
        drawn = c.interval(holm_confidence(c.p_value, p_holm))
        assert drawn.low < 0 < drawn.high and verdict(c.difference.mean, p_holm, 4) == "not separated"


def test_float_ties_share_a_rank() -> None:
    """tuning_v2's tuned Muon and Lion, 1.2e-8 apart, both rank 1; AdamW 3e-4 below ranks 3; NaN stays NaN."""
    ranks = tie_ranks([0.8928000092506408, 0.8927999973297119, 0.89248, math.nan])
    assert ranks[:3] == [1.0, 1.0, 3.0] and math.isnan(ranks[3])
