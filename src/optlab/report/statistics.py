"""The statistics behind every comparison in a report: confidence intervals over seeds and paired tests.

A seed fixes the initial weights and the data order for every optimizer, so two groups' runs of the same seed
form a pair: differences within pairs cancel the luck of the seed. Paired t-tests (scipy) compare each group with
a reference group; Holm's step-down correction keeps the chance of any false "different" at 5% across all of them.
With few seeds only large differences separate: the report then says "indistinguishable", never names a winner.

Intervals stay inside what the quantity can take. A Student-t interval over seeds is cut to that range (an accuracy
to [0, 1]; a difference from a reference to [-reference, 1 - reference]): the true value lies in the range, so the
cut interval contains it whenever the uncut one did and keeps its 95% coverage. The alternatives do worse with 3-5
seeds: a percentile bootstrap of 3 values can never reach beyond the values seen (coverage far below 95%), and a
logit-transformed interval is undefined at 0% or 100% (a digits run reaches 100%). Below MIN_SEEDS values no
interval is given at all: with 2 seeds the t quantile is 12.7 and the interval says nothing (it spanned +-200%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
MIN_SEEDS = 3  # fewest values an interval is computed from
ACCURACY = (0.0, 1.0)  # what an accuracy can take


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_ci(values: Sequence[float], within: tuple[float, float] = ACCURACY,
            confidence: float = 1 - ALPHA) -> Interval:
    """Mean and Student-t confidence interval over seeds, cut to `within`; NaN bounds below MIN_SEEDS values."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(finite) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(finite.mean())
    if len(finite) < MIN_SEEDS:
        return Interval(mean, math.nan, math.nan, len(finite))
    half = float(stats.t.ppf((1 + confidence) / 2, len(finite) - 1) * stats.sem(finite))
    return Interval(mean, max(mean - half, within[0]), min(mean + half, within[1]), len(finite))


@dataclass(frozen=True)
class PairedComparison:
    difference: Interval  # group minus reference, over the seeds both have
    p_value: float  # two-sided paired t-test; NaN with fewer than two pairs or no variation
    p_holm: float = math.nan  # after Holm's correction over all comparisons of the report


def paired_comparison(group: Mapping[int, float], reference: Mapping[int, float],
                      within: tuple[float, float] = ACCURACY) -> PairedComparison:
    """Compare two groups' values (each inside `within`) seed by seed, over the seeds both have with finite values."""
    seeds = sorted(s for s in set(group) & set(reference) if math.isfinite(group[s]) and math.isfinite(reference[s]))
    differences = [group[s] - reference[s] for s in seeds]
    base = float(np.mean([reference[s] for s in seeds])) if seeds else 0.0
    interval = mean_ci(differences, within=(within[0] - base, within[1] - base))
    if len(seeds) < 2 or np.allclose(differences, differences[0]):
        # No spread: a t-test is undefined. Identical values everywhere are no evidence of a difference.
        p_value = 1.0 if len(seeds) >= 2 and differences[0] == 0 else math.nan
    else:
        p_value = float(stats.ttest_rel([group[s] for s in seeds], [reference[s] for s in seeds]).pvalue)
    return PairedComparison(interval, p_value)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979); NaNs stay NaN and do not count as tests.

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i), made monotone, capped at 1.
    """
    indexed = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (len(indexed) - rank) * p))
        adjusted[i] = running
    return adjusted
