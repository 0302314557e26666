"""Up-front checks of a composed config: bad input fails in seconds with one line, before any data or training.

Each check names the offending override and what to do instead. Checks that need the data (sizes of the
train/val split, files on disk) live with the data (data.py, sources.py) and also run before training.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from optlab.config.compose import CONFIG_MODULE

MIXED = ("16-mixed", "bf16-mixed", "16", "bf16")
RESUME_REFUSED = ("skip", "stop")  # what a sweep does with a job resume=true refuses (conf/train.yaml)


class ConfigError(ValueError):
    """A config that cannot work; the message says which override to change."""


def check_config(cfg: DictConfig, optimizer_name: str, multirun: bool) -> None:
    _check_required(cfg)
    _check_custom_name(cfg)
    _check_whole_numbers(cfg)
    _check_resume_refused(cfg)
    _check_positive(cfg)
    _check_learning_rates(cfg.optimizer, "optimizer")
    _check_device(cfg)
    _check_data_placement(cfg)
    _check_precision(cfg, optimizer_name)
    _check_distributed(cfg, multirun)


def _check_required(cfg: DictConfig) -> None:
    """Keys a choice leaves to the user (`???`, e.g. data.root of data=image_folder) must be given."""
    missing = [key for key in _missing_keys(OmegaConf.to_container(cfg, resolve=False), "") if key != "hydra"
               and not key.startswith("hydra.")]
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be given for this configuration, e.g. {missing[0]}=<value>")


def _missing_keys(node: object, prefix: str) -> list[str]:
    """Dotted keys whose value is `???` (read unresolved: an interpolation of a missing key would raise)."""
    if isinstance(node, dict):
        return [key for name, child in node.items() for key in _missing_keys(child, f"{prefix}{name}.")]
    return [prefix[:-1]] if node == "???" else []


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_whole_numbers(cfg: DictConfig) -> None:
    """Counts must be integers: data.train_size=10.5 would otherwise fail deep inside indexing."""
    for node, key, optional in (("data", "batch_size", False), ("data", "eval_batch_size", False),
                                ("data", "train_size", True), ("trainer", "max_epochs", True), ("", "seed", False)):
        value = cfg[node][key] if node else cfg[key]
        if not (_is_whole(value) or (optional and value is None)):
            name = f"{node}.{key}" if node else key
            raise ConfigError(f"{name}={value} must be a whole number" + (" or null" if optional else ""))
    val_size = cfg.data.val_size
    if not (_is_whole(val_size) or (isinstance(val_size, float) and 0 < val_size < 1)):
        raise ConfigError(f"data.val_size={val_size} must be a whole number of images or a fraction between 0 and 1 "
                          "of the training images")


def _check_positive(cfg: DictConfig) -> None:
    for key in ("batch_size", "eval_batch_size"):
        if cfg.data[key] <= 0:
            raise ConfigError(f"data.{key}={cfg.data[key]} must be a positive number of images per batch")
    if cfg.trainer.max_epochs is not None and cfg.trainer.max_epochs < 1 and cfg.trainer.max_steps in (None, -1):
        raise ConfigError(f"trainer.max_epochs={cfg.trainer.max_epochs} must be at least 1")


def _check_learning_rates(node: DictConfig, path: str) -> None:
    """Every `lr` in the optimizer node (nested ones too, e.g. Muon's AdamW part) must be positive; the zoo's may be
    null (the library's default for the chosen optimizer)."""
    library_default_allowed = node.get("_target_") == "optlab.optim.zoo.zoo_optimizer"
    for key, value in node.items():
        if key == "lr" and value is None and library_default_allowed:
            continue
        if key == "lr" and (not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0):
            raise ConfigError(f"{path}.lr={value} must be a positive, finite learning rate, e.g. {path}.lr=0.01")
        if isinstance(value, DictConfig):
            _check_learning_rates(value, f"{path}.{key}")


def shipped_optimizers() -> set[str]:
    """The names of the optimizer configs optlab ships (sgd, textbook/adam, ...), which a custom one may not take."""
    folder = resources.files(CONFIG_MODULE) / "optimizer"
    names = set()
    for entry in folder.iterdir():
        if entry.is_dir():
            names |= {f"{entry.name}/{Path(inner.name).stem}" for inner in entry.iterdir()
                      if inner.name.endswith(".yaml")}
        elif entry.name.endswith(".yaml"):
            names.add(Path(entry.name).stem)
    return names - {"custom/any"}


def _check_custom_name(cfg: DictConfig) -> None:
    """optimizer=custom/any names its runs by optimizer_name; a shipped optimizer's name would mix yours into its rows
    (reports group runs by name, against= pairs by name)."""
    name = cfg.get("optimizer_name")
    if name is not None and (str(name) in shipped_optimizers() or "/" in str(name)):
        raise ConfigError(f"optimizer_name={name} is a shipped optimizer's name or holds a '/'; give yours a name of "
                          "its own, e.g. optimizer_name=my_" + str(name).replace("/", "_"))


def _check_resume_refused(cfg: DictConfig) -> None:
    if cfg.resume_refused not in RESUME_REFUSED:
        raise ConfigError(f"resume_refused={cfg.resume_refused} must be one of {', '.join(RESUME_REFUSED)}")


def _check_device(cfg: DictConfig) -> None:
    accelerator = cfg.trainer.accelerator
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={accelerator} (device=gpu or ddp) but this machine has no CUDA GPU; "
            "use device=cpu, device=auto, or device=ddp_cpu for distributed training on CPU"
        )


def _check_data_placement(cfg: DictConfig) -> None:
    """Images kept on a GPU (data.resident) cannot be read by DataLoader worker processes."""
    resident, workers = cfg.data.get("resident", "auto"), cfg.data.num_workers
    if resident not in ("auto", True, False):
        raise ConfigError(f"data.resident={resident} must be auto, true or false")
    if resident is True and workers > 0 and cfg.trainer.accelerator != "cpu":
        raise ConfigError(f"data.resident=true keeps the images on the training device, where data.num_workers="
                          f"{workers} worker processes cannot reach them: "
                          "set data.num_workers=0 or data.resident=false")


def _check_distributed(cfg: DictConfig, multirun: bool) -> None:
    """Lightning's DDP relaunches the command line once per extra process: inside a multirun each of them would
    start the whole sweep again."""
    strategy = str(cfg.trainer.strategy)
    if multirun and strategy.startswith("ddp") and not strategy.startswith("ddp_spawn"):
        raise ConfigError(
            f"trainer.strategy={cfg.trainer.strategy} cannot run inside a multirun (-m): Lightning relaunches the "
            "command once per process; run each configuration as its own command"
        )


def _check_precision(cfg: DictConfig, optimizer_name: str) -> None:
    precision = str(cfg.trainer.precision)
    on_cpu = cfg.trainer.accelerator == "cpu" or (
        cfg.trainer.accelerator == "auto" and not torch.cuda.is_available()
    )
    if precision.startswith("16") and on_cpu:
        raise ConfigError(
            f"precision={precision} (fp16 autocast) is not supported on CPU, where Lightning would silently run "
            "bf16 instead; use precision=bf16-mixed on CPU, or a GPU"
        )
    if precision in MIXED and "LBFGS" in str(cfg.optimizer.get("_target_", "")):
        raise ConfigError(
            f"optimizer={optimizer_name} with precision={precision}: Lightning's mixed precision does not support "
            "LBFGS (its closure re-evaluates the loss); use precision=32-true or precision=64-true"
        )
