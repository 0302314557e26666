"""The protocol's work, as Optuna studies: what a free worker runs next, and what each finished stage unlocks.

Per optimizer four studies in the protocol's storage, `<study>/<optimizer>/<stage>`:

- `search`: `budget` trials on the search seed, sampled by TPE and pruned by the protocol's pruner; when the best
  trial's lr lies near an end of the range, `widen.trials` more trials beyond that end (queued with fixed lrs);
- `selection`: the top_k search trials rerun on the selection seeds as a small successive halving: every candidate
  on the first selection seed, then round by round on the next seed only the candidates still in contention (their
  mean so far within selection.margin of the leader's), until one is left or the seeds are spent (queued trials).
  When fewer than top_k search trials finished, the pruned trials that got furthest stand in (stand-ins);
- `tuned`: the chosen setting on the rerun seeds; `default`: the config default on the same seeds (queued).

Every trial is created or taken (Optuna's ask) under the protocol's claim lock, so two workers never take the same
one and the search never exceeds its budget. A worker that dies leaves its trial RUNNING; Optuna's heartbeat fails
it after the grace period and queues it again with the same parameters (RetryHeartbeatStaleTrialCallback), and its run
folder is the original's, so the run continues from its checkpoint. A retried trial replaces the failed one in the
count: the budget counts each setting once.

Priority: selection and tuned reruns first (they finish an optimizer), then search trials in the order of the
optimizers, then default reruns (they depend on nothing, so they fill the gaps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optlab.run.summary import Status
from optlab.tune.search.outcome import PRUNING_CALLBACK, name_objective, trial_overrides
from optlab.tune.search.space import override_value
from optlab.tune.search.storage import trial_id
from optlab.tune.settings import TuneError, TuneSettings

LR = "optimizer.lr"
STAGES = ("search", "selection", "tuned", "default")


def folder_name(optimizer: str) -> str:
    return optimizer.replace("/", "-")


@dataclass(frozen=True)
class Item:
    """One run a worker takes: its trial (already RUNNING) and the overrides that make the run."""

    optimizer: str
    stage: str
    study: Any
    trial: Any
    trial_id: int  # the trial's id in the storage: what its run reports to and its heartbeat names
    overrides: list[str]
    label: str

    @property
    def folder(self) -> str:
        """Its run's folder, relative to the protocol's: <stage>/<optimizer>/<label>."""
        return f"{self.stage}/{folder_name(self.optimizer)}/{self.label}"


class WorkQueue:
    def __init__(self, settings: TuneSettings, storage: Any, storage_url: str, spaces: dict[str, dict[str, str]]
                 ) -> None:
        self.settings = settings
        self.storage = storage
        self.storage_url = storage_url
        self.spaces = spaces  # per optimizer: hydra.sweeper.params as resolved for it
        self._studies: dict[tuple[str, str], Any] = {}

    # -- studies ---------------------------------------------------------------------------------------------------

    def study_name(self, optimizer: str, stage: str) -> str:
        return f"{self.settings.study}/{folder_name(optimizer)}/{stage}"

    def study(self, optimizer: str, stage: str) -> Any:
        import optuna

        key = (optimizer, stage)
        if key not in self._studies:
            self._studies[key] = optuna.create_study(
                study_name=self.study_name(optimizer, stage), storage=self.storage, direction="maximize",
                load_if_exists=True, pruner=optuna.pruners.NopPruner())
            name_objective(self._studies[key])
        return self._studies[key]

    def prepare(self) -> None:
        """Once per start of the protocol: every study made (refusing one that holds another protocol) and the
        default reruns queued."""
        protocol = self.settings.protocol()
        for optimizer in self.settings.optimizers:
            for stage in STAGES:
                study = self.study(optimizer, stage)
                recorded = study.user_attrs.get("protocol")
                if recorded is None:
                    study.set_user_attr("protocol", protocol)
                elif recorded != protocol:
                    changed = sorted(k for k in {*recorded, *protocol} if recorded.get(k) != protocol.get(k))
                    listed = ", ".join(f"{k}: {recorded.get(k)} -> {protocol.get(k)}" for k in changed)
                    raise TuneError(f"the study {self.study_name(optimizer, stage)} holds another protocol ({listed});"
                                    " choose another study= or out=")
            if self.settings.defaults_too:
                enqueue_missing(self.study(optimizer, "default"),
                                [{"seed": seed, "overrides": []} for seed in self.settings.rerun_seeds])

    # -- what is next ------------------------------------------------------------------------------------------------

    def next_item(self) -> tuple[Item | None, bool]:
        """(the run to do next, whether the whole protocol is done); call it holding the claim lock."""
        import optuna

        for optimizer in self.settings.optimizers:
            for stage in STAGES:
                optuna.storages.fail_stale_trials(self.study(optimizer, stage))
        finished = [self._advance(optimizer) for optimizer in self.settings.optimizers]
        for stage in ("selection", "tuned"):
            for optimizer in self.settings.optimizers:
                if item := self._take_queued(optimizer, stage):
                    return item, False
        for optimizer in self.settings.optimizers:
            if item := self._take_search(optimizer):
                return item, False
        for optimizer in self.settings.optimizers:
            if item := self._take_queued(optimizer, "default"):
                return item, False
        return None, all(finished)

    # -- the search ----------------------------------------------------------------------------------------------

    def search_trials(self, optimizer: str) -> list[Any]:
        """The search's trials that count: a failed trial that was queued again is replaced by its retry."""
        return self.counted_trials(optimizer, "search")

    def counted_trials(self, optimizer: str, stage: str) -> list[Any]:
        """A stage's trials, each failed trial that was queued again replaced by its retry."""
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        trials = self.study(optimizer, stage).get_trials(deepcopy=False)
        retried = {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
        return [t for t in trials if t.number not in retried]

    def search_range(self, optimizer: str) -> tuple[float, float] | None:
        """The lr range searched so far: the configured one, widened by every widening round."""
        widenings = self.widenings(optimizer)
        if widenings:
            return float(widenings[-1]["range"][0]), float(widenings[-1]["range"][1])
        return self.search_range_configured(optimizer)

    def widenings(self, optimizer: str) -> list[dict[str, Any]]:
        """The widening rounds so far, each {"range": the range after it, "lrs": its trials' lrs, "params": the
        best trial's other values}: one attribute of the search study, written at once, so that a worker killed while
        widening leaves a round planned in full or not at all."""
        return list(self.study(optimizer, "search").user_attrs.get("widenings", []))

    def widened_trials(self, optimizer: str) -> int:
        return sum(len(widening["lrs"]) for widening in self.widenings(optimizer))

    def search_range_configured(self, optimizer: str) -> tuple[float, float] | None:
        """The lr range of conf/hparams_search (or of the learning-rate finder), before any widening."""
        distributions = self._distributions(optimizer)
        if LR not in distributions:
            return None
        return distributions[LR].low, distributions[LR].high

    def _distributions(self, optimizer: str, lr_range: list[float] | None = None) -> dict[str, Any]:
        from optuna.distributions import FloatDistribution

        from optlab.tune.search.space import search_space

        distributions, _ = search_space(self.spaces[optimizer])
        if lr_range is not None and LR in distributions:
            distributions[LR] = FloatDistribution(float(lr_range[0]), float(lr_range[1]), log=True)
        return distributions

    def _search_target(self, optimizer: str) -> int:
        return self.settings.budget + self.widened_trials(optimizer)

    def _search_done(self, optimizer: str) -> bool:
        import optuna

        trials = self.search_trials(optimizer)
        busy = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
        return len(trials) >= self._search_target(optimizer) and not any(t.state in busy for t in trials)

    def best_search_trials(self, optimizer: str) -> list[Any]:
        """The finished (status ok) search trials, best validation accuracy first, one per setting."""
        import optuna

        trials = [t for t in self.search_trials(optimizer) if t.state == optuna.trial.TrialState.COMPLETE
                  and t.user_attrs.get("status") == str(Status.OK)]
        ranked, seen = [], set()
        for trial in sorted(trials, key=lambda t: (-t.value, t.number)):
            key = tuple(sorted(trial.params.items()))
            if key not in seen:
                seen.add(key)
                ranked.append(trial)
        return ranked

    def selection_candidates(self, optimizer: str) -> list[Any]:
        """The top_k settings selection reruns: the best finished trials, and when fewer than top_k finished, the
        pruned trials that got furthest stand in (the furthest rung first, then the accuracy there)."""
        import optuna

        top_k = self.settings.selection["top_k"]
        finished = self.best_search_trials(optimizer)[:top_k]
        taken = {tuple(sorted(t.params.items())) for t in finished}
        pruned = [t for t in self.search_trials(optimizer)
                  if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values
                  and tuple(sorted(t.params.items())) not in taken]
        pruned.sort(key=lambda t: (-max(t.intermediate_values), -search_score(t), t.number))
        return finished + pruned[:top_k - len(finished)]

    def _take_search(self, optimizer: str) -> Item | None:
        import optuna
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        study = self.study(optimizer, "search")
        self._queue_widening(optimizer)
        trials = self.search_trials(optimizer)
        waiting = sorted((t for t in trials if t.state == optuna.trial.TrialState.WAITING), key=lambda t: t.number)
        if waiting:  # a retried or widening trial: its lrs may lie beyond the configured range
            trial = study.ask(self._distributions(optimizer, waiting[0].user_attrs.get("lr_range")))
        elif len(trials) < self._search_target(optimizer):
            # A sampler seeded by the search seed and the trial's place: proposals depend on the finished trials only,
            # and two workers asking at once do not draw the same random startup point.
            study.sampler = optuna.samplers.TPESampler(
                seed=self.settings.search_seed * 100_003 + len(trials), constant_liar=True,
                n_startup_trials=max(1, self.settings.budget // 2))
            trial = study.ask(self._distributions(optimizer, list(self.search_range(optimizer) or ()) or None))
        else:
            return None
        # A retry continues in the original's folder (from its checkpoint).
        tid = trial_id(self.storage, study.study_name, trial.number)
        retried = RetryHeartbeatStaleTrialCallback.retried_trial_number(self.storage.get_trial(tid))
        number = trial.number if retried is None else retried
        lr = trial.params.get(LR)
        name = f"{number:03d}_{folder_name(optimizer)}" + (f"_lr{lr:.3g}" if lr is not None else "")
        overrides = [f"hparams_search={self.settings.search}", f"optimizer={self.settings.config_of(optimizer)}",
                     *self._lr_find_range(optimizer), f"seed={self.settings.search_seed}",
                     *(f"{key}={override_value(value)}" for key, value in trial.params.items()),
                     *trial_overrides(self.storage_url, study.study_name, tid), *self._rungs(),
                     "test=false",  # judged on validation alone: nothing reads a search trial's test accuracy
                     *self._folder("search", optimizer, name)]
        return Item(optimizer, "search", study, trial, tid, overrides, name)

    def _rungs(self) -> list[str]:
        """A search trial validates at every rung, and its pruning callback counts in rungs."""
        rungs = self.settings.rungs_per_epoch
        return [f"trainer.val_check_interval={1 / rungs!r}", f"+{PRUNING_CALLBACK}.rungs_per_epoch={rungs}"]

    def _lr_find_range(self, optimizer: str) -> list[str]:
        if not self.settings.lr_find["enabled"]:
            return []
        low, high = self._distributions(optimizer)[LR].low, self._distributions(optimizer)[LR].high
        return [f"search.lr_range=[{low!r},{high!r}]"]

    def _widen(self, optimizer: str, best: Any) -> bool:
        """Queue the widening trials when the best lr lies near an end of the range; True if it did."""
        widen, study = self.settings.widen, self.study(optimizer, "search")
        rounds = len(self.widenings(optimizer))
        lr_range = self.search_range(optimizer)
        if rounds >= widen["rounds"] or lr_range is None or LR not in best.params:
            return False
        low, high = lr_range
        lr = best.params[LR]
        step = 10 ** (widen["decades"] / widen["trials"])
        if math.log10(high / lr) < widen["within_decades"]:
            new_range, lrs = [low, high * 10 ** widen["decades"]], [high * step ** i for i in
                                                                     range(1, int(widen["trials"]) + 1)]
        elif math.log10(lr / low) < widen["within_decades"]:
            new_range, lrs = [low / 10 ** widen["decades"], high], [low / step ** i for i in
                                                                    range(1, int(widen["trials"]) + 1)]
        else:
            return False
        plan = {"range": new_range, "lrs": lrs, "params": {k: v for k, v in best.params.items() if k != LR}}
        study.set_user_attr("widenings", [*self.widenings(optimizer), plan])
        self._queue_widening(optimizer)
        return True

    def _queue_widening(self, optimizer: str) -> None:
        """Queue every planned widening trial not queued yet (all of a round just planned; the rest of one a killed
        worker queued in part)."""
        study = self.study(optimizer, "search")
        held = {(t.user_attrs.get("widened"), t.user_attrs.get("widened_lr")) for t in study.get_trials(deepcopy=False)}
        for round_number, plan in enumerate(self.widenings(optimizer), start=1):
            for value in plan["lrs"]:
                if (round_number, value) not in held:
                    study.enqueue_trial({**plan["params"], LR: value}, user_attrs={
                        "lr_range": plan["range"], "widened": round_number, "widened_lr": value})

    # -- selection, reruns ---------------------------------------------------------------------------------------

    def _advance(self, optimizer: str) -> bool:
        """Queue what the optimizer's finished stages unlock; True when nothing of it is left to run."""
        default_done = self._stage_done(optimizer, "default")
        if not self._search_done(optimizer):
            return False
        ranked = self.best_search_trials(optimizer)
        if not ranked:  # nothing finished: nothing to select or rerun (the report says why)
            return default_done
        if self._widen(optimizer, ranked[0]):
            return False
        if self.settings.selection["seeds"] and (not self._stage_done(optimizer, "selection")
                                                 or self._queue_selection_round(optimizer)):
            return False
        search = self.study(optimizer, "search")
        if "chosen" not in search.user_attrs:  # chosen once, when selection ends; not again at every claim
            search.set_user_attr("chosen", self.chosen(optimizer).number)
        chosen = next(t for t in self.search_trials(optimizer) if t.number == search.user_attrs["chosen"])
        if enqueue_missing(self.study(optimizer, "tuned"), [{"seed": seed, "candidate": chosen.number,
                                                             "overrides": setting_overrides(chosen)}
                                                            for seed in self.settings.rerun_seeds]):
            return False
        return self._stage_done(optimizer, "tuned") and default_done

    def _queue_selection_round(self, optimizer: str) -> bool:
        """Queue the next round of selection (the rounds before it finished); False when selection is over: the seeds
        are spent, or one candidate is left in contention. Each round's candidates follow from the rounds before
        it, so a round a killed worker queued only in part is completed, never queued twice."""
        candidates = {t.number: t for t in self.selection_candidates(optimizer)}
        scores, going_on = self.selection_scores(optimizer), set(candidates)
        for index, seed in enumerate(self.settings.selection_seeds):
            if index:
                going_on = in_contention(scores, going_on, self.settings.selection["margin"])
                if len(going_on) < 2:
                    return False
            wanted = [{"seed": seed, "candidate": number, "overrides": setting_overrides(candidates[number])}
                      for number in sorted(going_on, key=list(candidates).index)]
            if enqueue_missing(self.study(optimizer, "selection"), wanted):
                return True
        return False

    def selection_rounds(self, optimizer: str) -> list[set[int]]:
        """Per selection round so far (one selection seed each, in order): the candidates that ran it."""
        rounds: dict[int, set[int]] = {}
        for trial in self.study(optimizer, "selection").get_trials(deepcopy=False):
            rounds.setdefault(trial.user_attrs["seed"], set()).add(trial.user_attrs["candidate"])
        return [rounds[seed] for seed in self.settings.selection_seeds if seed in rounds]

    def selection_scores(self, optimizer: str) -> dict[int, list[float]]:
        """Per candidate (its search trial's number): its objective on each selection seed that finished."""
        import optuna

        scores: dict[int, list[float]] = {}
        for trial in self.study(optimizer, "selection").get_trials(deepcopy=False):
            if trial.state == optuna.trial.TrialState.COMPLETE:
                scores.setdefault(trial.user_attrs["candidate"], []).append(trial.value)
        return scores

    def chosen(self, optimizer: str) -> Any:
        """Of the candidates that ran the last selection round, the best mean over the selection seeds (the search's
        best without selection); a tie goes to the better search score."""
        if not self.settings.selection["seeds"]:
            return self.best_search_trials(optimizer)[0]
        scores, finalists = self.selection_scores(optimizer), self.selection_rounds(optimizer)[-1]
        return max((t for t in self.selection_candidates(optimizer) if t.number in finalists),
                   key=lambda t: (mean(scores.get(t.number, [])), search_score(t)))

    def _stage_done(self, optimizer: str, stage: str) -> bool:
        import optuna

        trials = self.study(optimizer, stage).get_trials(deepcopy=False)
        busy = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
        return not any(t.state in busy for t in trials)

    def _take_queued(self, optimizer: str, stage: str) -> Item | None:
        import optuna

        study = self.study(optimizer, stage)
        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
            return None
        trial = study.ask()
        attrs = trial.user_attrs
        name = (f"trial{attrs['candidate']:03d}_seed{attrs['seed']}" if stage == "selection"
                else f"seed{attrs['seed']}")
        # A selection run is judged on validation alone, as a search trial: the test set is evaluated once per rerun
        # the report publishes, never on the candidates it chose among.
        overrides = [f"optimizer={self.settings.config_of(optimizer)}", *attrs["overrides"], f"seed={attrs['seed']}",
                     *(["test=false"] if stage == "selection" else []), *self._folder(stage, optimizer, name)]
        return Item(optimizer, stage, study, trial, trial_id(self.storage, study.study_name, trial.number), overrides,
                    name)

    def costs(self) -> list[dict[str, Any]]:
        """Per optimizer and stage: runs finished, of them pruned and reused from the cache, epochs trained and the
        runs' wall time summed (a reused run trained nothing here)."""
        rows = []
        for optimizer in self.settings.optimizers:
            for stage in STAGES:
                trials = [t for t in self.study(optimizer, stage).get_trials(deepcopy=False)
                          if "wall_s" in t.user_attrs]
                rows.append({"optimizer": optimizer, "stage": stage, "runs": len(trials),
                             "pruned": sum(t.user_attrs.get("status") == str(Status.PRUNED) for t in trials),
                             "reused": sum("reused_from" in t.user_attrs for t in trials),
                             "epochs": round(sum(float(t.user_attrs.get("epochs", 0)) for t in trials), 2),
                             "wall_s": round(sum(float(t.user_attrs["wall_s"]) for t in trials), 3)})
        return rows

    def _folder(self, stage: str, optimizer: str, name: str) -> list[str]:
        folder = Path(self.settings.out).resolve() / stage / folder_name(optimizer)
        return [f"hydra.sweep.dir={folder}", f"hydra.sweep.subdir={name}"]


def mean(values: list[float]) -> float:
    """A candidate's selection score; 0.0, the worst, when none of its selection runs finished."""
    return sum(values) / len(values) if values else 0.0


def enqueue_missing(study: Any, runs: list[dict[str, Any]]) -> bool:
    """Queue the runs (their user attributes: seed, candidate, overrides) that the study does not hold yet; True if
    any was queued. Called again after a worker was killed halfway through, it queues only the rest."""
    held = {(t.user_attrs.get("seed"), t.user_attrs.get("candidate")) for t in study.get_trials(deepcopy=False)}
    missing = [run for run in runs if (run["seed"], run.get("candidate")) not in held]
    for run in missing:
        study.enqueue_trial({}, user_attrs=run)
    return bool(missing)


def in_contention(scores: dict[int, list[float]], last_round: set[int], margin: float) -> set[int]:
    """Of the candidates that ran the last round, those whose mean over the selection seeds so far is within
    `margin` of the best such mean: they go on to the next seed, the others stop there."""
    means = {number: mean(scores.get(number, [])) for number in last_round}
    best = max(means.values())
    return {number for number, value in means.items() if value >= best - margin}


def search_score(trial: Any) -> float:
    """A search trial's validation accuracy: its final one, or where a pruned trial stopped."""
    if trial.value is not None:
        return trial.value
    return trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else 0.0


def setting_overrides(trial: Any) -> list[str]:
    """A search trial's setting as overrides: what a rerun repeats exactly."""
    return [f"{key}={override_value(value)}" for key, value in trial.params.items()]
