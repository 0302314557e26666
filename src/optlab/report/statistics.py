"""The statistics behind every comparison in a report: confidence intervals over seeds and paired tests.

A seed fixes the initial weights and the data order for every optimizer, so two groups' runs of the same seed
form a pair: differences within pairs cancel the luck of the seed. Paired t-tests (scipy) compare each group with
a reference group; Holm's step-down correction keeps the chance of any false "different" at 5% across all of them.
With few seeds only large differences separate: the report then says "not separated" (the test did not separate
them, which is no evidence that they are equal), never names a winner.

The interval drawn and tabled beside a verdict must agree with it: a paired t-interval at level 1 - a excludes zero
exactly when the paired t-test's p < a (the same statistic, mean over its standard error, with n - 1 degrees of
freedom). Holm's verdict is p_holm < ALPHA, so the interval that agrees is the one at a = ALPHA * p / p_holm
(holm_confidence): for the comparisons Holm's step-down reaches, p_holm = (m - rank) p and this is Holm's own
per-step level 1 - ALPHA / (m - rank); past the first comparison it keeps, the monotone adjusted p lowers a further.
They are not simultaneous 95% intervals (those that agree with Holm's step-down, Strassburger & Bretz 2008, tell
little beyond the sign of a separated difference): each is its test's acceptance region at the level Holm used it,
and the unadjusted 95% interval stays in the table's csv.

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
# Mean accuracies closer than this are a tie: below any difference a validation set of under a million examples can
# show, above float32 rounding (the same runs' mean differed by 1.2e-8 between two optimizers' rows).
TIE = 1e-6
# The verdicts of a comparison with the reference; the one place they are spelled.
HIGHER, LOWER, NOT_SEPARATED = "higher", "lower", "not separated"
SEPARATED = (HIGHER, LOWER)


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
    difference: Interval  # group minus reference, over the seeds both have, 95%
    p_value: float  # two-sided paired t-test; NaN with fewer than two pairs or no variation
    differences: tuple[float, ...] = ()  # per paired seed, for an interval at another level
    within: tuple[float, float] = (-math.inf, math.inf)  # what the difference can take

    def interval(self, confidence: float) -> Interval:
        """The difference's t-interval at `confidence` (NaN bounds where the confidence is NaN)."""
        if not math.isfinite(confidence):
            return Interval(self.difference.mean, math.nan, math.nan, self.difference.n)
        return mean_ci(self.differences, within=self.within, confidence=confidence)


def paired_comparison(group: Mapping[int, float], reference: Mapping[int, float],
                      within: tuple[float, float] = ACCURACY) -> PairedComparison:
    """Compare two groups' values (each inside `within`) seed by seed, over the seeds both have with finite values."""
    seeds = sorted(s for s in set(group) & set(reference) if math.isfinite(group[s]) and math.isfinite(reference[s]))
    differences = [group[s] - reference[s] for s in seeds]
    base = float(np.mean([reference[s] for s in seeds])) if seeds else 0.0
    shifted = (within[0] - base, within[1] - base)  # contains 0, so the cut never decides whether 0 is inside
    interval = mean_ci(differences, within=shifted)
    if len(seeds) < 2 or np.allclose(differences, differences[0]):
        # No spread: a t-test is undefined. Identical values everywhere are no evidence of a difference.
        p_value = 1.0 if len(seeds) >= 2 and differences[0] == 0 else math.nan
    else:
        p_value = float(stats.ttest_rel([group[s] for s in seeds], [reference[s] for s in seeds]).pvalue)
    return PairedComparison(interval, p_value, tuple(differences), shifted)


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


def holm_confidence(p_value: float, p_holm: float, alpha: float = ALPHA) -> float:
    """The level 1 - alpha * p / p_holm of the t-interval that excludes 0 exactly when p_holm < alpha (the module's
    docstring says why); NaN for an untested comparison. A p of 0 (underflow) excludes 0 at any level."""
    if not (math.isfinite(p_value) and math.isfinite(p_holm)):
        return math.nan
    return 1 - alpha * (p_value / p_holm if p_holm > 0 else 1.0)


def verdict(difference: float, p_holm: float, pairs: int) -> str:
    """HIGHER or LOWER only where Holm's corrected p is below ALPHA; NOT_SEPARATED otherwise, never "equal"."""
    if pairs < 2:
        return f"untested ({pairs} paired seed{'s' if pairs != 1 else ''})"
    if not math.isfinite(p_holm):  # every seed gave the same difference: a t-test has no spread to work with
        return f"untested (the same difference on all {pairs} paired seeds)"
    if p_holm >= ALPHA:
        return NOT_SEPARATED
    return HIGHER if difference > 0 else LOWER


def tie_ranks(values: Sequence[float], tolerance: float = TIE) -> list[float]:
    """1 + how many values exceed this one by more than `tolerance`: the highest ranks 1, and values within the
    tolerance of each other share a rank (a float tie is no order). NaN stays NaN."""
    finite = [v for v in values if math.isfinite(v)]
    return [1.0 + sum(other > v + tolerance for other in finite) if math.isfinite(v) else math.nan for v in values]
