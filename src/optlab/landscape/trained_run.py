"""What a landscape needs from one finished run: its network, initial and final weights, and a fixed batch.

Everything comes from the run's own folder: the config Hydra saved (.hydra/config.yaml) rebuilds the data and the
network; the seed rebuilds the initial weights exactly as training drew them (optlab.models.build);
checkpoints/last.ckpt holds the final ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from optlab.config.moved_targets import current_config
from optlab.data.datamodule import ready_datamodule
from optlab.landscape.surface import Params
from optlab.models.build import build_model
from optlab.run.resume import LAST_CHECKPOINT as CHECKPOINT

CONFIG = Path(".hydra") / "config.yaml"


class NoCheckpoint(Exception):
    """A run whose folder lacks what a landscape needs; the message says which file and why it may be missing."""


@dataclass
class TrainedRun:
    folder: Path
    model: nn.Module  # in eval mode, with its trained buffers (batch-norm statistics)
    initial: Params
    final: Params
    buffers: Params


def run_config(folder: Path) -> DictConfig:
    path = folder / CONFIG
    if not path.is_file():
        raise NoCheckpoint(f"{folder.name}: no {CONFIG} (not a run written by optlab.train)")
    return current_config(OmegaConf.load(path))  # saved by an earlier optlab: today's module paths


def fixed_batch(cfg: DictConfig, subset: int, cache: dict[str, tuple]) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The first `subset` training images (normalised, never augmented) and their labels; runs on the same data
    share one copy (`cache`, keyed by the data config)."""
    key = OmegaConf.to_yaml(cfg.data)
    if key not in cache:
        datamodule = ready_datamodule(cfg.data)
        images, labels = datamodule.first_images("train", subset)
        cache[key] = (images, labels, datamodule)
    return cache[key]


def load_trained_run(folder: Path, cfg: DictConfig, datamodule: object) -> TrainedRun:
    """The run in `folder`, whose saved config is `cfg` (run_config), on `datamodule` (fixed_batch's)."""
    checkpoint_path = folder / CHECKPOINT
    if not checkpoint_path.is_file():
        raise NoCheckpoint(f"{folder.name}: no {CHECKPOINT} (the run kept none: callbacks.checkpoint removed, or the "
                           "file was deleted)")
    model = build_model(cfg, datamodule).float()
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)["state_dict"]
    trained = {name.removeprefix("model."): value.float() for name, value in state.items()}
    model.load_state_dict(trained)
    model.eval()
    final = {name: trained[name] for name in initial}
    buffers = {name: trained[name] for name, _ in model.named_buffers() if name in trained}
    return TrainedRun(folder, model, initial, final, buffers)
