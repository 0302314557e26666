"""A search's trials as its runs' summary.json files hold them, and the choice among them.

The choice is made on validation accuracy only (RunSummary.objective, the value the sweeper maximised); the test
accuracy the trials also recorded is never looked at here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from optlab.report.runs import find_run_folders
from optlab.run_identity import override_pairs
from optlab.summary import RunSummary, Status
from optlab.tune.settings import TuneError

GOOD_WITHIN = 0.01  # a trial within 1 point of the best counts towards the good lr range
EDGE_DECADES = 0.1  # a choice this close to an end of the range (in decades) is flagged: widen the range


@dataclass(frozen=True)
class Trial:
    lr: float
    status: Status
    objective: float  # validation accuracy; 0.0 for a trial that diverged, failed or could not run
    reason: str
    # What the sweeper set, as its overrides wrote it ({"optimizer.lr": "0.0443..."}): a rerun repeats exactly these.
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    optimizer: str
    trials: list[Trial]
    lr_range: tuple[float, float] = (math.nan, math.nan)  # the range searched (the trials' search.lr_range)

    @property
    def best(self) -> Trial | None:
        """The finished trial with the highest validation accuracy (the first found on a tie); None if none."""
        finished = [t for t in self.trials if t.status == Status.OK]
        return max(finished, key=lambda t: t.objective) if finished else None

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
        within GOOD_WITHIN of the best (DeepOBS's tuneability, read off the trials). NaN with no finished trial."""
        best = self.best
        if best is None:
            return math.nan
        good = [t.lr for t in self.trials if t.status == Status.OK and t.objective >= best.objective - GOOD_WITHIN]
        return math.log10(max(good) / min(good))

    @property
    def at_edge(self) -> bool:
        """The chosen lr lies within EDGE_DECADES of an end of the range searched: the best may lie beyond it."""
        best = self.best
        if best is None or not all(math.isfinite(bound) for bound in self.lr_range):
            return False
        return min(abs(math.log10(best.lr / bound)) for bound in self.lr_range) < EDGE_DECADES

    def count(self, status: Status) -> int:
        return sum(t.status == status for t in self.trials)


def read_search(folder: Path, optimizer: str) -> SearchResult:
    """Every trial under a search's folder, in the order they ran (their folders start with the job number)."""
    run_folders = sorted(find_run_folders([folder]), key=_job_number)
    searched = searched_keys(run_folders[0]) if run_folders else []
    summaries = [RunSummary.read(f) for f in run_folders]
    summaries = [s for s in summaries if s is not None and s.lr is not None]
    trials = [Trial(float(s.lr), s.status, s.objective, s.reason,
                    {k: v for k, v in override_pairs(s.overrides).items() if k in searched}) for s in summaries]
    searched = summaries[0].config.get("search.lr_range") if summaries else None
    return SearchResult(optimizer, trials, tuple(searched) if searched else (math.nan, math.nan))


def searched_keys(run_folder: Path) -> list[str]:
    """The keys the search varied (hydra.sweeper.params), from the Hydra config a trial saved."""
    saved = run_folder / ".hydra" / "hydra.yaml"
    if not saved.is_file():
        raise TuneError(f"{saved} is missing: without it the searched settings are unknown; keep hydra.output_subdir "
                        "for searches")
    params = OmegaConf.load(saved).hydra.sweeper.get("params") or {}
    return [str(key) for key in params]


def _job_number(run_folder: Path) -> int:
    """Hydra's job number, the start of a sweep's run folder name (12_adam_lr0.001_seed0)."""
    number = run_folder.name.split("_", 1)[0]
    return int(number) if number.isdigit() else -1
