"""How an optimizer moves the weights, layer by layer: logged while training, and where they ended up.

`OptimizerDynamics` (callback `dynamics` in conf/callbacks/default.yaml) writes, every `every_n_steps` optimizer
steps and per layer (a module with its own parameters: conv1 = features.0), the gradient norm, the update norm
||w_after - w_before|| and the update/weight ratio ||update|| / ||w_before||, plus the same over the whole
network (tags `dynamics/<quantity>/<layer>` and `dynamics/<quantity>`). The ratio is what tells optimizers apart:
Adam-like methods move every layer by a similar fraction, SGD moves layers in proportion to their gradients.
On the other steps it does nothing, so it is cheap enough to leave on (docs/benchmarks.md: its measured cost).
Lightning's `grad_norm` utility gives one norm per parameter tensor; the layer (weight and bias together) is the
unit compared here, so the norms are taken directly, from the same tensors.

`layer_drift` says where the weights went: per layer, ||w_final - w_initial|| / ||w_initial|| from the initial
weights the seed gave every optimizer; the report draws it as an optimizer x layer heatmap.
"""

from __future__ import annotations

from collections import defaultdict

import lightning.pytorch as pl
import torch
from torch import nn
from torch.optim import Optimizer

Weights = dict[str, list[torch.Tensor]]  # layer name -> its parameters


def layers(model: nn.Module) -> Weights:
    """{layer: parameters} for every module that holds trainable parameters directly, in registration order."""
    grouped: Weights = defaultdict(list)
    for name, param in model.named_parameters():
        if param.requires_grad:
            grouped[name.rpartition(".")[0] or name].append(param)
    return dict(grouped)


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors]))


def snapshot(model: nn.Module) -> Weights:
    return {layer: [p.detach().clone() for p in params] for layer, params in layers(model).items()}


def _moved(params: list[torch.Tensor], reference: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(||w - w_ref||, ||w_ref||) over one layer's parameters."""
    return _norm([p.detach() - r for p, r in zip(params, reference, strict=True)]), _norm(reference)


def _ratio(moved: torch.Tensor, reference_norm: torch.Tensor) -> float:
    return float(moved / reference_norm.clamp_min(1e-12))


def layer_drift(initial: Weights, model: nn.Module) -> dict[str, float]:
    """{layer: ||w - w0|| / ||w0||} from the `initial` snapshot to the model's weights now."""
    return {layer: _ratio(*_moved(params, initial[layer])) for layer, params in layers(model).items()}


def _network(pl_module: pl.LightningModule) -> nn.Module:
    """The wrapped network (optlab's Classifier keeps it as .model), so layers are named as in the model."""
    return getattr(pl_module, "model", pl_module)


class OptimizerDynamics(pl.Callback):
    def __init__(self, every_n_steps: int = 50) -> None:
        if every_n_steps < 1:
            raise ValueError(f"callbacks.dynamics.every_n_steps={every_n_steps} must be at least 1")
        self.every_n_steps = every_n_steps
        self.before: Weights | None = None  # the weights before this step's update, on logged steps only
        self.grad_norms: dict[str, torch.Tensor] = {}

    def _due(self, trainer: pl.Trainer) -> bool:
        return trainer.global_step % self.every_n_steps == 0

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: Optimizer) -> None:
        # Called after backward, before the update; L-BFGS calls it once per loss evaluation: keep the first.
        if not self._due(trainer) or self.before is not None:
            return
        params = layers(_network(pl_module))
        self.grad_norms = {layer: _norm([p.grad.detach() for p in ps if p.grad is not None])
                           for layer, ps in params.items() if any(p.grad is not None for p in ps)}
        self.before = snapshot(_network(pl_module))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self.before is None:
            return
        metrics = self._measure(pl_module)
        self.before = None
        if trainer.is_global_zero:
            step = trainer.global_step - 1  # the step whose update this was
            for logger in trainer.loggers:  # directly: Lightning's self.log writes only every log_every_n_steps
                logger.log_metrics(metrics, step=step)

    def _measure(self, pl_module: pl.LightningModule) -> dict[str, float]:
        metrics: dict[str, float] = {}
        updates, weights = [], []
        for layer, params in layers(_network(pl_module)).items():
            update, weight = _moved(params, self.before[layer])
            updates.append(update)
            weights.append(weight)
            metrics[f"dynamics/update_norm/{layer}"] = float(update)
            metrics[f"dynamics/update_ratio/{layer}"] = _ratio(update, weight)
            if layer in self.grad_norms:
                metrics[f"dynamics/grad_norm/{layer}"] = float(self.grad_norms[layer])
        total_update, total_weight = _norm(updates), _norm(weights)
        metrics["dynamics/update_norm"] = float(total_update)
        metrics["dynamics/update_ratio"] = _ratio(total_update, total_weight)
        if self.grad_norms:
            metrics["dynamics/grad_norm"] = float(_norm(list(self.grad_norms.values())))
        return metrics
