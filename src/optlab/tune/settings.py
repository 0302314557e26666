"""The tune command's settings: its own keys (conf/tune.yaml) apart from the overrides every training run gets.

The command line mixes both, as a sweep's does: `optimizer=glob(*) budget=16 data=fashion_mnist`. Keys that
conf/tune.yaml defines are the protocol's; everything else is handed to optlab.train unchanged. `optimizer`
takes a sweep's syntax (a name, a,b,c or glob(*)) and is expanded here against conf/optimizer/. A password in
`storage` is moved to the environment here (optlab.tune.search.storage.PASSWORD_VARIABLE), never into the settings.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Glob
from hydra.errors import HydraException
from omegaconf import OmegaConf

from optlab.config.compose import optlab_configs
from optlab.config.run_identity import changes_numbers, flatten, override_key
from optlab.files import first_line
from optlab.report.records import RecordsError, read_protocol
from optlab.tune.search.storage import PASSWORD_VARIABLE, split_password

CUSTOM = "custom/any"  # conf/optimizer/custom/any.yaml: a user's class from the command line


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
    pruner: str  # conf/pruner/<pruner>
    rungs_per_epoch: int  # validations per epoch of a search trial: the pruner's resource unit
    selection: dict[str, Any]  # top_k, seeds, margin
    widen: dict[str, float]  # within_decades, decades, trials, rounds
    workers: int
    storage: str | None  # a database URL, without its password; None: optuna.db in out
    study: str  # the studies' names start with it
    heartbeat: dict[str, int]  # interval_s, grace_s, retries
    supervisor: dict[str, float]  # restarts, delay_s
    out: Path
    resume: bool
    cache: list[str]  # finished protocols' folders whose runs a rerun of the same identity reuses
    against: str | None = None  # a published protocol's report folder that this one pairs with (None in a
    # tune.json written before against= existed)
    train_overrides: list[str] = field(default_factory=list)  # given to every optlab.train run
    configs: dict[str, str] = field(default_factory=dict)  # a name that is not its config's: signsgd -> custom/any

    def config_of(self, optimizer: str) -> str:
        """The optimizer's config (`optimizer=<it>`): its own name, but a custom optimizer's, which is custom/any."""
        return self.configs.get(optimizer, optimizer)

    @property
    def rerun_seeds(self) -> list[int]:
        """Fresh seeds: 1, 2, ... skipping the search's, so no rerun repeats a run the choice was made on."""
        return self._fresh_seeds()[:self.seeds]

    @property
    def selection_seeds(self) -> list[int]:
        """The seeds the top trials are re-evaluated on: the next fresh ones after the rerun seeds, so no seed a
        choice was made on is ever a seed the chosen setting is reported on."""
        return self._fresh_seeds()[self.seeds:]

    def _fresh_seeds(self) -> list[int]:
        count = self.seeds + self.selection["seeds"]
        return list(itertools.islice((s for s in itertools.count(1) if s != self.search_seed), count))

    def protocol(self) -> dict[str, Any]:
        """What must stay the same for `resume=true` to continue a protocol: not where and how fast it runs (workers,
        storage, heartbeat, supervisor), nor which optimizers (each is searched and rerun on its own, so one may be
        added to a finished protocol)."""
        record = json.loads(json.dumps(asdict(self), default=str))
        for key in ("out", "resume", "workers", "optimizers", "configs", "storage", "heartbeat", "supervisor", "cache",
                    "against"):
            record.pop(key)
        return record

    def to_record(self) -> dict[str, Any]:
        """Everything, as JSON, for the workers (they read it from tune.json)."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TuneSettings:
        return cls(**{**record, "out": Path(record["out"])})


def _key(argument: str) -> str:
    """The top-level key an override sets: lr_find.enabled=true -> lr_find."""
    return override_key(argument).split(".", 1)[0]


def parse_settings(arguments: list[str]) -> TuneSettings:
    """Settings from the command line; TuneError (one line) for anything that cannot be run."""
    malformed = [a for a in arguments if "=" not in a]
    if malformed:
        raise TuneError(f"{malformed[0]!r} is not key=value; e.g. python -m optlab.tune optimizer=sgd,adam budget=16")
    with optlab_configs() as loader:
        own_keys = set(compose(config_name="tune").keys())
        arguments = with_published(arguments)
        mine = [a for a in arguments if _key(a) in own_keys and _key(a) != "optimizer"]
        choice = next((a.split("=", 1)[1] for a in reversed(arguments) if override_key(a) == "optimizer"), None)
        if any(_key(a) == "storage" and not _one_value(a) for a in mine):
            raise TuneError(f"storage= is not one URL Hydra can read: leave its password out and give it in "
                            f"{PASSWORD_VARIABLE} (or percent-encode the password's , = ' {{ and such)")
        try:
            cfg = compose(config_name="tune", overrides=mine, return_hydra_config=True)
        except HydraException as error:
            raise TuneError(first_line(error)) from None
        optimizers = expand_choice(choice if choice is not None else str(cfg.optimizer),
                                   loader.get_group_options("optimizer"), group_options(loader, "optimizer"))
        searches = loader.get_group_options("hparams_search")
        # optimizer.lr=... and such configure the optimizer of every run: the training's, not the protocol's
        train_overrides = [a for a in arguments if _key(a) not in own_keys or override_key(a).startswith("optimizer.")]
        configs = custom_names(optimizers, train_overrides)
        check_optimizer_overrides(optimizers, train_overrides, against=any(_key(a) == "against" for a in mine))
        optimizers = [next((n for n, c in configs.items() if c == o), o) for o in optimizers]
        check_train_overrides(train_overrides, configs.get(optimizers[0], optimizers[0]))
    settings = TuneSettings(
        optimizers=optimizers, budget=cfg.budget, seeds=cfg.seeds, search_seed=cfg.search_seed, search=cfg.search,
        defaults_too=cfg.defaults_too, lr_find=OmegaConf.to_container(cfg.lr_find),
        pruner=str(cfg.hydra.runtime.choices.pruner), rungs_per_epoch=cfg.rungs_per_epoch,
        selection=OmegaConf.to_container(cfg.selection),
        widen=OmegaConf.to_container(cfg.widen), workers=cfg.workers, study=cfg.study,
        storage=storage_without_password(cfg.storage),
        heartbeat=OmegaConf.to_container(cfg.heartbeat), supervisor=OmegaConf.to_container(cfg.supervisor),
        out=Path(cfg.out), resume=cfg.resume, cache=[str(Path(folder).resolve()) for folder in cfg.cache],
        against=str(Path(cfg.against).resolve()) if cfg.against else None,
        train_overrides=train_overrides, configs=configs,
    )
    check_settings(settings, searches, out_given=any(_key(a) == "out" for a in arguments))
    return settings


def with_published(arguments: list[str]) -> list[str]:
    """With against=<folder>: the published protocol's rules and training overrides first, then the command line's
    (which may repeat them, or set what is not identity, such as data.root; anything else that differs is refused
    once the settings are known, optlab.tune.identity)."""
    against = next((a.split("=", 1)[1] for a in reversed(arguments) if override_key(a) == "against"), None)
    if against in (None, "null"):
        return arguments
    try:
        published = read_protocol(Path(against))
    except RecordsError as error:
        raise TuneError(f"against={against}: {error}") from None
    given = {override_key(a) for a in arguments}
    rules = [f"{key}={value if isinstance(value, str) else json.dumps(value)}"
             for key, value in flatten(published["rules"]).items()]
    carried = [o for o in published["train_overrides"] if changes_numbers(override_key(o))]  # not its data.root
    return [*(o for o in [*rules, *carried] if override_key(o) not in given), *arguments]


def _one_value(argument: str) -> bool:
    """Whether Hydra reads the override as one value. Asked of storage= before compose, so that one it cannot read
    is refused without its text: Hydra's own error quotes the override, and with it the password it may hold."""
    try:
        return not OverridesParser.create().parse_override(argument).is_sweep_override()
    except HydraException:
        return False


def storage_without_password(url: str | None) -> str | None:
    """The URL the settings keep, and so tune.json, every run's overrides, .hydra/ and summary: without its
    password, which goes to this process's environment (PASSWORD_VARIABLE), where its workers and their runs (local
    processes, SLURM jobs) find it when they open the storage."""
    if url is None:
        return None
    url, password = split_password(url)
    if password is not None:
        os.environ[PASSWORD_VARIABLE] = password
    return url


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
        raise TuneError(f"optimizer={value}: {first_line(error)}") from None
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


def custom_names(optimizers: list[str], train_overrides: list[str]) -> dict[str, str]:
    """{its optimizer_name: "custom/any"} for optimizer=custom/any. Its class and settings come as overrides, which
    every optimizer of a protocol would get, so it is tuned alone (or against= a published protocol)."""
    if CUSTOM not in optimizers:
        return {}
    if len(optimizers) > 1:
        raise TuneError(f"optimizer={','.join(optimizers)}: optimizer={CUSTOM} takes its class from overrides that "
                        "every optimizer of the protocol would get; tune it alone, or write conf/optimizer/<name>.yaml "
                        "in your folder (hydra.searchpath=[file://conf]) to tune it beside others")
    names = [a.split("=", 1)[1] for a in train_overrides if override_key(a) == "optimizer_name"]
    if not names:
        raise TuneError(f"optimizer={CUSTOM} needs its name for the protocol's studies and report: "
                        "optimizer_name=<yours>")
    return {names[-1]: CUSTOM}


def check_optimizer_overrides(optimizers: list[str], train_overrides: list[str], against: bool) -> None:
    """optimizer.* overrides configure every optimizer's runs, and against= pairs one optimizer with the published
    ones: with several optimizers both would be silently wrong (Adam given SGD's momentum; a second one unpaired)."""
    given = [o for o in train_overrides if override_key(o).startswith("optimizer.")]
    if len(optimizers) > 1 and given:
        raise TuneError(f"{given[0]} would reach every optimizer of optimizer={','.join(optimizers)}; tune one "
                        "optimizer with its own settings, or give each its own conf/optimizer/<name>.yaml")
    if len(optimizers) > 1 and against:
        raise TuneError(f"against= pairs one optimizer with the published ones; optimizer={','.join(optimizers)} "
                        "names several: run one command per optimizer")


def check_train_overrides(overrides: list[str], optimizer: str) -> None:
    """Compose one training config now, so that a mistyped override fails in one line before hours of runs, and
    refuse overrides that bring a sweep of their own (an experiment's hydra.sweeper.params): the protocol chooses
    the optimizers, learning rates and seeds, and a search would silently sweep those too."""
    try:
        cfg = compose(config_name="train", overrides=[*overrides, f"optimizer={optimizer}"], return_hydra_config=True)
    except HydraException as error:
        raise TuneError(first_line(error)) from None
    swept = list(cfg.hydra.sweeper.get("params") or {})
    if swept:
        raise TuneError(f"{' '.join(overrides)} brings a sweep of its own (hydra.sweeper.params: {', '.join(swept)});"
                        " the protocol chooses optimizers, learning rates and seeds: give that experiment's other "
                        "settings as overrides instead")


def check_settings(settings: TuneSettings, searches: list[str], out_given: bool) -> None:
    if settings.budget < 1 or settings.seeds < 1 or settings.workers < 1:
        raise TuneError("budget, seeds and workers must be at least 1, e.g. budget=16 seeds=5 workers=2")
    if settings.rungs_per_epoch < 1:
        raise TuneError(f"rungs_per_epoch={settings.rungs_per_epoch} must be at least 1 (1: prune at epoch ends only)")
    if settings.selection["top_k"] < 1 or settings.selection["seeds"] < 0:
        raise TuneError(f"selection.top_k={settings.selection['top_k']} must be at least 1 and selection.seeds="
                        f"{settings.selection['seeds']} at least 0 (0: choose on the search seed alone)")
    if settings.selection["margin"] < 0:
        raise TuneError(f"selection.margin={settings.selection['margin']} must be at least 0 (0.01: within 1 point)")
    if settings.widen["rounds"] < 0 or (settings.widen["rounds"] and (settings.widen["trials"] < 1
                                                                       or settings.widen["decades"] <= 0)):
        raise TuneError("widen: rounds must be at least 0, and with rounds, trials at least 1 and decades above 0")
    heartbeat = settings.heartbeat
    if not 0 < heartbeat["interval_s"] < heartbeat["grace_s"] or heartbeat["retries"] < 0:
        raise TuneError(f"heartbeat: 0 < interval_s ({heartbeat['interval_s']}) < grace_s ({heartbeat['grace_s']}) "
                        f"and retries ({heartbeat['retries']}) >= 0 are needed")
    if settings.supervisor["restarts"] < 0 or settings.supervisor["delay_s"] < 0:
        raise TuneError(f"supervisor: restarts ({settings.supervisor['restarts']}) and delay_s "
                        f"({settings.supervisor['delay_s']}) must be at least 0")
    if settings.search not in searches:
        raise TuneError(f"search={settings.search} is not in conf/hparams_search/; choose from {', '.join(searches)}")
    if settings.lr_find["enabled"] and settings.lr_find["factor"] <= 1:
        raise TuneError(f"lr_find.factor={settings.lr_find['factor']} must be above 1, e.g. lr_find.factor=30")
    missing = [folder for folder in settings.cache if not Path(folder).is_dir()]
    if missing:
        raise TuneError(f"cache: {missing[0]} is not a folder; name finished protocols' folders, e.g. "
                        "cache=[outputs/tune/2026-12-01/10-00-00]")
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
