"""A protocol's identity: what must match for its numbers to be paired with another protocol's (`against=`).

Two protocols are comparable when their runs train the same way (data and its split, model, epochs, batch, schedule,
precision: the resolved training config that changes numbers, the optimizer's own keys and the seed aside), tune by
the same rules (budget, search, pruner, rungs, selection, widening), on the same seeds, with the same versions of
the packages that change numbers (optlab.config.run_identity.NUMERIC_PACKAGES). Where the data live, how many workers
ran and which storage held the studies are not part of it. Written as `report/protocol.json` beside runs.csv.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from optlab.config.compose import compose_config
from optlab.config.run_identity import (
    NUMERIC_PACKAGES,
    SEED_KEYS,
    changes_numbers,
    flat_config,
    flatten,
    override_pairs,
)
from optlab.files import write_atomic
from optlab.report.records import PROTOCOL, read_records
from optlab.run.provenance import package_versions
from optlab.tune.settings import TuneError, TuneSettings

CHOICES = ("data", "model", "scheduler", "precision")  # the config groups a report names runs by
NOT_RULES = ("train_overrides", "study")  # the overrides are compared resolved (`training`); a study is a name


def protocol_identity(settings: TuneSettings) -> dict[str, Any]:
    first = settings.config_of(settings.optimizers[0])
    cfg = compose_config("train", [*settings.train_overrides, f"optimizer={first}"], return_hydra_config=True)
    training = {key: value for key, value in flat_config(cfg).items() if changes_numbers(key)
                and key not in SEED_KEYS and key.split(".", 1)[0] not in ("optimizer", "optimizer_name")}
    versions = package_versions()
    return {
        "training": training,
        "rules": {key: value for key, value in settings.protocol().items() if key not in NOT_RULES},
        "seeds": {"search": settings.search_seed, "selection": settings.selection_seeds,
                  "rerun": settings.rerun_seeds},
        "versions": {name: versions.get(name) for name in NUMERIC_PACKAGES},
        "train_overrides": settings.train_overrides,  # how to repeat it: the command line's training overrides
        "choices": _choices(settings, cfg),
        "optimizers": settings.optimizers,
        "workers": settings.workers,  # not identity; a rerun of one of its runs repeats its threads (torch_threads=1)
    }


def _choices(settings: TuneSettings, cfg: DictConfig) -> dict[str, str]:
    """The config groups by the names run summaries give them (optlab.run.job): a model of yours by its class."""
    choices = {group: str(cfg.hydra.runtime.choices[group]) for group in CHOICES}
    choices["model"] = override_pairs(settings.train_overrides).get("model._target_", choices["model"])
    return choices


def write_identity(settings: TuneSettings, folder: Path) -> Path:
    identity = protocol_identity(settings)
    return write_atomic(folder / PROTOCOL, json.dumps(identity, indent=2, default=str) + "\n")


def differences(published: Mapping[str, Any], mine: Mapping[str, Any]) -> list[str]:
    """`training.trainer.max_epochs: 5 -> 3`, one per key that differs, for what makes a comparison fair."""
    found = []
    for part in ("training", "rules", "seeds", "versions"):
        theirs, ours = flatten(dict(published.get(part, {}))), flatten(dict(mine.get(part, {})))
        read = _public if part == "versions" else _plain
        for key in sorted({*theirs, *ours}):
            if read(theirs.get(key)) != read(ours.get(key)):
                found.append(f"{part}.{key}: {theirs.get(key)} -> {ours.get(key)}")
    return found


def _public(version: Any) -> Any:
    """A version's public part: 2.14.1+cu130 and 2.14.1+cpu are one release, built for other devices; what a build
    moves, the reproduction line measures."""
    return str(version).split("+", 1)[0] if version is not None else None


def check_against(settings: TuneSettings) -> None:
    """The published identity, once this protocol's matches it; TuneError naming what differs, or an optimizer the
    published protocol already has (yours would be mixed into its rows)."""
    records = read_records(Path(settings.against))  # every record read now, not after hours of runs
    published = records.protocol
    taken = sorted(set(settings.optimizers) & set(published.get("optimizers", [])))
    if taken:
        raise TuneError(f"against={settings.against}: {', '.join(taken)} is already one of its optimizers; give "
                        "yours a name of its own (optimizer_name=my_...)")
    mine = protocol_identity(settings)
    theirs, ours = published.get("versions", {}), mine["versions"]
    other = {name: version for name, version in theirs.items() if _public(version) != _public(ours.get(name))}
    if other:  # no override of yours made these: the installed packages did
        listed = "; ".join(f"versions.{name}: {version} -> {ours.get(name)}" for name, version in other.items())
        wanted = " ".join(f"{name}=={_public(version)}" for name, version in other.items())
        raise TuneError(f"against={settings.against}: it was computed with other package versions ({listed}); "
                        f"install those to pair with it (pip install {wanted})")
    found = differences(published, mine)
    if found:
        listed = "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
        raise TuneError(f"against={settings.against}: this protocol is not the published one ({listed}); drop the "
                        "overrides that change it")


def _plain(value: Any) -> Any:
    """JSON's reading of a value, numbers as floats: 1 and 1.0, a tuple and a list, read the same."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)
