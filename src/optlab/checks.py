"""Up-front checks of a composed config: bad input fails in seconds with one line, before any data or training.

Each check names the offending override and what to do instead. Checks that need the data (sizes of the
train/val split, files on disk) live with the data (data.py, sources.py) and also run before training.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

MIXED = ("16-mixed", "bf16-mixed", "16", "bf16")


class ConfigError(ValueError):
    """A config that cannot work; the message says which override to change."""


def check_config(cfg: DictConfig, optimizer_name: str, multirun: bool) -> None:
    _check_positive(cfg)
    _check_learning_rates(cfg.optimizer, "optimizer")
    _check_device(cfg)
    _check_precision(cfg, optimizer_name)
    _check_distributed(cfg, multirun)


def _check_positive(cfg: DictConfig) -> None:
    for key in ("batch_size", "eval_batch_size"):
        if cfg.data[key] <= 0:
            raise ConfigError(f"data.{key}={cfg.data[key]} must be a positive number of images per batch")
    if cfg.trainer.max_epochs is not None and cfg.trainer.max_epochs < 1 and cfg.trainer.max_steps in (None, -1):
        raise ConfigError(f"trainer.max_epochs={cfg.trainer.max_epochs} must be at least 1")


def _check_learning_rates(node: DictConfig, path: str) -> None:
    """Every `lr` in the optimizer node (nested ones too, e.g. Muon's AdamW part) must be positive."""
    for key, value in node.items():
        if key == "lr" and (not isinstance(value, (int, float)) or value <= 0):
            raise ConfigError(f"{path}.lr={value} must be a positive learning rate, e.g. {path}.lr=0.01")
        if isinstance(value, DictConfig):
            _check_learning_rates(value, f"{path}.{key}")


def _check_device(cfg: DictConfig) -> None:
    accelerator = cfg.trainer.accelerator
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={accelerator} (device=gpu or ddp) but this machine has no CUDA GPU; "
            "use device=cpu, device=auto, or device=ddp_cpu for distributed training on CPU"
        )


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
