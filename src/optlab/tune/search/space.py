"""The search space of `hydra.sweeper.params`, in Hydra's sweep syntax, as Optuna distributions.

    optimizer.lr: tag(log, interval(1e-5, 1e-2))   -> FloatDistribution(1e-5, 1e-2, log=True)
    trainer.max_epochs: range(2, 10, 2)             -> IntDistribution(2, 10, step=2)
    optimizer.weight_decay: choice(0.0, 1e-4)       -> CategoricalDistribution([0.0, 1e-4])

The syntax hydra-optuna-sweeper read, so conf/hparams_search/ is unchanged; a value that is no sweep is a fixed
override of every trial.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from hydra.errors import HydraException

from optlab.files import first_line


class SearchSpaceError(ValueError):
    """A parameter whose sweep cannot be searched; the message names it."""


def search_space(params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(distributions of the swept keys, overrides of the fixed ones)."""
    parser = OverridesParser.create()
    distributions: dict[str, Any] = {}
    fixed: list[str] = []
    for key, value in params.items():
        text = f"{key}={value}"
        try:
            override = parser.parse_override(text)
        except HydraException as error:
            raise SearchSpaceError(f"hydra.sweeper.params.{text}: {first_line(error)}") from None
        if override.is_sweep_override():
            distributions[str(key)] = distribution(str(key), override.value())
        else:
            fixed.append(text)
    return distributions, fixed


def distribution(key: str, sweep: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    log = "log" in sweep.tags
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if isinstance(low, int) and isinstance(high, int) and "float" not in sweep.tags:
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    if isinstance(sweep, RangeSweep):
        step = sweep.step or 1
        if all(isinstance(v, int) for v in (sweep.start, sweep.stop, step)):
            return IntDistribution(sweep.start, sweep.stop - step, step=step, log=log and step == 1)
        return FloatDistribution(float(sweep.start), float(sweep.stop) - float(step), step=float(step))
    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution(list(sweep.list))
    raise SearchSpaceError(f"hydra.sweeper.params.{key}: {type(sweep).__name__} cannot be searched; use "
                           "interval(...), range(...) or choice(...)")


def override_value(value: Any) -> str:
    """A sampled value as an override writes it: floats in full (repr), so a rerun repeats it exactly."""
    return repr(value) if isinstance(value, float) else str(value)
