"""A run's network from its config: seeded, so that every optimizer of a seed starts from the same weights, and
checked against optlab's model contract (optlab.models.contract) before any optimizer sees its parameters.

Shared by a run (optlab.run.job), the learning-rate finder and the landscape, which rebuilds a finished run's
initial weights from its seed.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from optlab.models import contract


def build_model(cfg: DictConfig, datamodule: pl.LightningDataModule) -> torch.nn.Module:
    """The model's initial weights depend on the seed only: every optimizer of a seed starts from the same point."""
    torch.manual_seed(cfg.seed)
    return contract.build_model(cfg.model, datamodule.input_shape, datamodule.num_classes)


def checked_parameters(cfg: DictConfig, datamodule: pl.LightningDataModule,
                       model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """What the optimizer updates, in the order the model's layers run, once its forward has been checked against
    optlab's contract."""
    return contract.ordered_parameters(model, datamodule.input_shape, datamodule.num_classes,
                                       str(cfg.model.get("_target_")))
