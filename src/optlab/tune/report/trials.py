"""A protocol's search, read back from its Optuna study: every trial's lr, outcome and score, the range finally
searched, and the choice.

The choice is made on validation accuracy only (the trials' objective); the test accuracy the runs also recorded
is never looked at here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from optlab.run.summary import Status
from optlab.tune.work_queue import LR, WorkQueue, mean

GOOD_WITHIN = 0.01  # a trial within 1 point of the best counts towards the good lr range


@dataclass(frozen=True)
class Trial:
    lr: float
    status: Status
    objective: float  # validation accuracy; 0.0 for a trial that diverged, failed or could not run
    reason: str
    params: dict[str, str] = field(default_factory=dict)  # what the search set ({"optimizer.lr": "0.0443..."})
    number: int = -1
    epochs: float = 0.0  # epochs trained, fractions included (a trial pruned at the first rung: 0.33)
    val_acc: float = math.nan  # the last validation accuracy it reached (a pruned trial's, where it stopped)
    widened: bool = False  # queued by a widening round, at an lr beyond the range first searched
    rungs: dict[int, float] = field(default_factory=dict)  # its validation accuracy at each rung it reported


@dataclass(frozen=True)
class SearchResult:
    optimizer: str
    trials: list[Trial]
    lr_range: tuple[float, float] = (math.nan, math.nan)  # the range finally searched (widened ends included)
    configured_range: tuple[float, float] = (math.nan, math.nan)
    widened_trials: int = 0
    chosen_number: int | None = None  # the setting rerun on the fresh seeds (after selection)
    selection: dict[int, list[float]] = field(default_factory=dict)  # candidate -> its selection-seed objectives
    stand_ins: list[int] = field(default_factory=list)  # pruned trials that stood in for missing finished ones
    edge_within: float = 0.25

    @property
    def best(self) -> Trial | None:
        """The finished trial with the highest validation accuracy on the search seed; None if none."""
        finished = [t for t in self.trials if t.status == Status.OK]
        return max(finished, key=lambda t: t.objective) if finished else None

    @property
    def chosen(self) -> Trial | None:
        return next((t for t in self.trials if t.number == self.chosen_number), None)

    def search_score(self, trial: Trial | None) -> float:
        """A trial's validation accuracy on the search seed: a stand-in's where it was pruned."""
        if trial is None:
            return math.nan
        return trial.val_acc if trial.number in self.stand_ins else trial.objective

    def selection_score(self, trial: Trial | None) -> float:
        return mean(self.selection[trial.number]) if trial is not None and trial.number in self.selection else math.nan

    @property
    def why_none(self) -> str:
        """Why no trial can be chosen: the outcomes and the first reason given."""
        counts = Counter(str(t.status) for t in self.trials)
        reasons = [t.reason for t in self.trials if t.reason]
        outcome = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no trials"
        return f"{outcome}: {reasons[0]}" if reasons else outcome

    @property
    def good_range_decades(self) -> float:
        """How wide the good learning rates are, in decades: from the smallest to the largest lr whose trial came
        within GOOD_WITHIN of the best (DeepOBS's tuneability, read off the trials). NaN with no finished trial.

        A completed trial counts by its final validation accuracy against the best's. A pruned one counts by its
        accuracy at the rung where it stopped against the best's at that same rung (same seed, same steps taken):
        left out, a pruner that stops most trials early would make an optimizer look untuneable; counted by its
        early accuracy against the best's final one, it would seldom be good. A pruned trial whose rung the best
        did not report is left out."""
        good = [t.lr for t in self.good_trials]
        return math.log10(max(good) / min(good)) if good else math.nan

    @property
    def good_trials(self) -> list[Trial]:
        """The trials that count towards the good range (good_range_decades says how)."""
        best = self.best
        return [t for t in self.trials if self.is_good(t, best)] if best is not None else []

    @staticmethod
    def is_good(trial: Trial, best: Trial) -> bool:
        """Whether the trial counts towards the good range (good_range_decades says how)."""
        if trial.status == Status.OK:
            return trial.objective >= best.objective - GOOD_WITHIN
        if trial.status != Status.PRUNED or not trial.rungs:
            return False
        rung = max(trial.rungs)
        return rung in best.rungs and trial.rungs[rung] >= best.rungs[rung] - GOOD_WITHIN

    @property
    def at_edge(self) -> bool:
        """The chosen lr lies within edge_within decades of an end of the range finally searched, after every
        widening round: a lower bound, the best may lie beyond."""
        chosen = self.chosen or self.best
        if chosen is None or not all(math.isfinite(bound) for bound in self.lr_range):
            return False
        return min(abs(math.log10(chosen.lr / bound)) for bound in self.lr_range) < self.edge_within

    def count(self, status: Status) -> int:
        return sum(t.status == status for t in self.trials)


def read_search(queue: WorkQueue, optimizer: str) -> SearchResult:
    """The search of one optimizer, its trials in the order they were made."""
    import optuna

    study = queue.study(optimizer, "search")
    trials = []
    for t in sorted(queue.search_trials(optimizer), key=lambda t: t.number):
        if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING) or LR not in t.params:
            continue
        status = Status(t.user_attrs["status"]) if "status" in t.user_attrs else Status.FAILED
        reason = t.user_attrs.get("reason", "its worker stopped and every retry too")
        objective = t.value if t.state == optuna.trial.TrialState.COMPLETE else 0.0
        trials.append(Trial(float(t.params[LR]), status, objective, reason, dict(t.params), t.number,
                            float(t.user_attrs.get("epochs", 0)), float(t.user_attrs.get("val_acc", math.nan)),
                            "widened" in t.user_attrs, dict(t.intermediate_values)))
    configured = queue.search_range_configured(optimizer)
    return SearchResult(optimizer, trials, queue.search_range(optimizer) or (math.nan, math.nan),
                        configured or (math.nan, math.nan), queue.widened_trials(optimizer),
                        study.user_attrs.get("chosen"), queue.selection_scores(optimizer),
                        _stand_ins(queue, optimizer), queue.settings.widen["within_decades"])


def _stand_ins(queue: WorkQueue, optimizer: str) -> list[int]:
    import optuna

    if not queue.settings.selection["seeds"] or not queue.best_search_trials(optimizer):
        return []
    return [t.number for t in queue.selection_candidates(optimizer) if t.state == optuna.trial.TrialState.PRUNED]
