"""The tune command's settings: its own keys (conf/tune.yaml) apart from the overrides every training run gets.

The command line mixes both, as a sweep's does: `optimizer=glob(*) budget=16 data=fashion_mnist`. Keys that
conf/tune.yaml defines are the protocol's; everything else is handed to optlab.train unchanged. `optimizer`
takes a sweep's syntax (a name, a,b,c or glob(*)) and is expanded here against conf/optimizer/.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Glob
from hydra.errors import HydraException
from omegaconf import OmegaConf

CONFIG_MODULE = "optlab.conf"


class TuneError(ValueError):
    """A protocol that cannot start or continue; the message says what to change."""


@dataclass(frozen=True)
class TuneSettings:
    optimizers: list[str]
    budget: int
    seeds: int
    search_seed: int
    search: str
    defaults_too: bool
    lr_find: dict[str, Any]  # conf/tune.yaml's lr_find node
    jobs: int
    out: Path
    resume: bool
    train_overrides: list[str] = field(default_factory=list)  # given to every optlab.train run

    @property
    def rerun_seeds(self) -> list[int]:
        """Fresh seeds: 1, 2, ... skipping the search's, so no rerun repeats a run the choice was made on."""
        return list(itertools.islice((s for s in itertools.count(1) if s != self.search_seed), self.seeds))

    def protocol(self) -> dict[str, Any]:
        """What must stay the same for `resume=true` to continue a protocol: not where and how fast it runs, nor
        which optimizers (each is searched and rerun on its own, so one may be added to a finished protocol)."""
        record = asdict(self)
        for key in ("out", "resume", "jobs", "optimizers"):
            record.pop(key)
        return record


def _key(argument: str) -> str:
    """The top-level key an override sets: lr_find.enabled=true -> lr_find."""
    return argument.split("=", 1)[0].lstrip("+~").split(".", 1)[0]


def parse_settings(arguments: list[str]) -> TuneSettings:
    """Settings from the command line; TuneError (one line) for anything that cannot be run."""
    malformed = [a for a in arguments if "=" not in a]
    if malformed:
        raise TuneError(f"{malformed[0]!r} is not key=value; e.g. python -m optlab.tune optimizer=sgd,adam budget=16")
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        own_keys = set(compose(config_name="tune").keys())
        mine = [a for a in arguments if _key(a) in own_keys and _key(a) != "optimizer"]
        choice = next((a.split("=", 1)[1] for a in reversed(arguments) if _key(a) == "optimizer"), None)
        try:
            cfg = compose(config_name="tune", overrides=mine)
        except HydraException as error:
            raise TuneError(str(error).splitlines()[0]) from None
        loader = GlobalHydra.instance().config_loader()
        optimizers = expand_choice(choice if choice is not None else str(cfg.optimizer),
                                   loader.get_group_options("optimizer"), group_options(loader, "optimizer"))
        searches = loader.get_group_options("hparams_search")
        train_overrides = [a for a in arguments if _key(a) not in own_keys]
        check_train_overrides(train_overrides, optimizers[0])
    settings = TuneSettings(
        optimizers=optimizers, budget=cfg.budget, seeds=cfg.seeds, search_seed=cfg.search_seed, search=cfg.search,
        defaults_too=cfg.defaults_too, lr_find=OmegaConf.to_container(cfg.lr_find),
        jobs=cfg.jobs, out=Path(cfg.out), resume=cfg.resume,
        train_overrides=train_overrides,
    )
    check_settings(settings, searches, out_given=any(_key(a) == "out" for a in arguments))
    return settings


def group_options(loader: Any, group: str, prefix: str = "") -> list[str]:
    """Every config of a group, nested folders too (textbook/adam), as a defaults list or override names them."""
    names = [prefix + name for name in loader.get_group_options(group, results_filter=ObjectType.CONFIG)]
    for folder in loader.get_group_options(group, results_filter=ObjectType.GROUP):
        names += group_options(loader, f"{group}/{folder}", f"{prefix}{folder}/")
    return names


def expand_choice(value: str, options: list[str], every_option: list[str]) -> list[str]:
    """`sgd`, `sgd,textbook/adam` or `glob(*)` (Hydra's sweep syntax) -> config names. A glob chooses among the
    group's own `options`, as in a sweep; a name may be any config of the group, nested ones too."""
    try:
        parsed = OverridesParser.create().parse_override(f"optimizer={value}").value()
    except HydraException as error:
        raise TuneError(f"optimizer={value}: {str(error).splitlines()[0]}") from None
    if isinstance(parsed, Glob):
        names = parsed.filter(options)
    elif isinstance(parsed, ChoiceSweep):
        names = [str(v) for v in parsed.list]
    else:
        names = [str(parsed)]
    unknown = [n for n in names if n not in every_option]
    if unknown:
        raise TuneError(f"optimizer={unknown[0]} is not in conf/optimizer/; choose from {', '.join(options)}")
    if not names:
        raise TuneError(f"optimizer={value} matches no optimizer config; choose from {', '.join(options)}")
    return names


def check_train_overrides(overrides: list[str], optimizer: str) -> None:
    """Compose one training config now, so that a mistyped override fails in one line before hours of runs, and
    refuse overrides that bring a sweep of their own (an experiment's hydra.sweeper.params): the protocol chooses
    the optimizers, learning rates and seeds, and a search would silently sweep those too."""
    try:
        cfg = compose(config_name="train", overrides=[*overrides, f"optimizer={optimizer}"], return_hydra_config=True)
    except HydraException as error:
        raise TuneError(str(error).splitlines()[0]) from None
    swept = list(cfg.hydra.sweeper.get("params") or {})
    if swept:
        raise TuneError(f"{' '.join(overrides)} brings a sweep of its own (hydra.sweeper.params: {', '.join(swept)});"
                        " the protocol chooses optimizers, learning rates and seeds: give that experiment's other "
                        "settings as overrides instead")


def check_settings(settings: TuneSettings, searches: list[str], out_given: bool) -> None:
    if settings.budget < 1 or settings.seeds < 1 or settings.jobs < 1:
        raise TuneError("budget, seeds and jobs must be at least 1, e.g. budget=16 seeds=5 jobs=2")
    if settings.search not in searches:
        raise TuneError(f"search={settings.search} is not in conf/hparams_search/; choose from {', '.join(searches)}")
    if settings.lr_find["enabled"] and settings.lr_find["factor"] <= 1:
        raise TuneError(f"lr_find.factor={settings.lr_find['factor']} must be above 1, e.g. lr_find.factor=30")
    if settings.resume and not out_given:
        raise TuneError("resume=true continues a protocol's folder: name it with out=<folder>")
    if settings.resume and not settings.out.is_dir():
        raise TuneError(f"resume=true: {settings.out} does not exist; run without resume=true to start there")
    if not settings.resume and settings.out.exists() and any(settings.out.iterdir()):
        raise TuneError(f"{settings.out} already holds a protocol; continue it with resume=true, or choose another out")


def check_same_protocol(recorded: dict[str, Any], settings: TuneSettings) -> None:
    """resume=true must continue the protocol the folder holds, not another one into the same folder."""
    now = OmegaConf.to_container(OmegaConf.create(settings.protocol()))
    changed = sorted(k for k in {*recorded, *now} if recorded.get(k) != now.get(k))
    if changed:
        listed = ", ".join(f"{k}: {recorded.get(k)} -> {now.get(k)}" for k in changed)
        raise TuneError(f"resume: {settings.out} holds another protocol ({listed}); drop those changes or start "
                        "a new out")
