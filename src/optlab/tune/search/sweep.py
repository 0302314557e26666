"""hparams_search's sweep (`python -m optlab.train -m hparams_search=lr ...`): Optuna's ask-and-tell over
`hydra.sweeper.params`, `n_jobs` trials at a time through the configured launcher.

The study lives in Optuna's storage (default: optuna.db in the sweep folder), so a sweep run again into the same
folder continues it: finished and pruned trials count towards n_trials, and a trial a killed sweep left running is
run again with the same parameters. One sweep process per study; for many workers on one study use optlab.tune.
A storage URL with a password is refused: Hydra writes hydra.sweeper.storage into every run's .hydra/, so the
password comes from the environment instead (optlab.tune.search.storage.open_storage).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from optlab.files import write_atomic
from optlab.tune.search.outcome import job_summary, name_objective, tell, trial_overrides
from optlab.tune.search.space import SearchSpaceError, distribution, override_value, search_space
from optlab.tune.search.storage import (
    PASSWORD_VARIABLE,
    StorageError,
    default_url,
    open_storage,
    shown,
    split_password,
    trial_id,
)

log = logging.getLogger(__name__)
RESULTS = "optimization_results.yaml"


class SearchError(CompactHydraException):
    """A search that cannot start; Hydra prints its message alone and exits non-zero."""


def split_arguments(arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The command line's sweeps (lr=interval(...), seed=1,2) join the search space; the rest is fixed."""
    space: dict[str, Any] = {}
    fixed: list[str] = []
    for override in OverridesParser.create().parse_overrides(arguments):
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override.get_key_element(), override.value())
        else:
            fixed.append(override.input_line)
    return space, fixed


def run_search(settings: dict[str, Any], config: DictConfig, launcher: Any, arguments: list[str]) -> None:
    import optuna

    if settings["storage"] and split_password(settings["storage"])[1] is not None:
        raise SearchError(f"hydra.sweeper.storage holds a password, which Hydra would write into every run's .hydra/:"
                          f" give the URL without it and the password in {PASSWORD_VARIABLE} (or, for PostgreSQL, "
                          "PGPASSWORD or ~/.pgpass)")
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    url = settings["storage"] or default_url(sweep_dir)
    try:
        storage = open_storage(url)
        params = OmegaConf.to_container(settings["params"], resolve=True) if isinstance(
            settings["params"], DictConfig) else dict(settings["params"])
        space, fixed = search_space(params)
        cli_space, cli_fixed = split_arguments(arguments)
    except (StorageError, SearchSpaceError) as error:
        raise SearchError(str(error)) from None
    space.update(cli_space)
    name = str(settings["study_name"])
    study = optuna.create_study(study_name=name, storage=storage, sampler=settings["sampler"],
                                direction=settings["direction"], load_if_exists=True)
    name_objective(study)
    _run_again_abandoned(study)
    while (left := settings["n_trials"] - _counted(study)) > 0:
        trials = [study.ask(space) for _ in range(min(settings["n_jobs"], left))]
        overrides = [[*cli_fixed, *fixed, *(f"{k}={override_value(v)}" for k, v in t.params.items()),
                      *trial_overrides(url, name, trial_id(storage, name, t.number))] for t in trials]
        started = time.perf_counter()
        returns = launcher.launch(overrides, initial_job_idx=trials[0].number)
        wall_s = (time.perf_counter() - started) / len(trials)  # a batch's trials ran side by side
        for trial, job_return in zip(trials, returns, strict=True):
            tell(study, trial, job_summary(job_return), wall_s)
    _write_results(study, sweep_dir / RESULTS, url)


def _counted(study: Any) -> int:
    """Trials towards n_trials: all but the failed ones (a killed sweep's, run again)."""
    import optuna

    return sum(t.state != optuna.trial.TrialState.FAIL for t in study.get_trials(deepcopy=False))


def _run_again_abandoned(study: Any) -> None:
    """A trial left RUNNING (its sweep was killed) is failed, and its parameters queued to run again."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"run_again_of": trial.number})
        log.info("trial %d was left running by an earlier sweep: queued again", trial.number)


def _write_results(study: Any, path: Path, url: str) -> None:
    """hydra-optuna-sweeper's summary file (lightning-hydra-template reads it), and where the study is."""
    try:
        best = study.best_trial
    except ValueError:  # no trial completed
        best = None
    results = {"name": "optuna", "study": study.study_name, "storage": shown(url),
               "best_params": dict(best.params) if best else {}, "best_value": best.value if best else None}
    write_atomic(path, yaml.safe_dump(results, sort_keys=False))
    if best is not None:
        log.info("best: %s (value %.4f); the study: optuna.load_study(study_name=%r, storage=%r)",
                 " ".join(f"{k}={v}" for k, v in best.params.items()), best.value, study.study_name, shown(url))
