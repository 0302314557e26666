"""The loss around a point in weight space, as pure functions of a model, its weights and directions.

Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the Loss Landscape of Neural Nets": a random Gaussian
direction, rescaled filter by filter to the norms of the weights' filters, makes pictures of differently scaled
networks comparable (a network's loss does not change when a ReLU layer's filters are scaled, so unnormalized
directions would show the scale, not the shape). Biases and other 1-D parameters get direction zero, as there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call

Params = dict[str, torch.Tensor]
LossFn = Callable[[Params], float]


def random_direction(shapes: Params, generator: torch.Generator) -> Params:
    """Gaussian noise shaped like the weights; the same generator state gives the same direction for every model
    of one architecture (every optimizer of a seed)."""
    return {name: torch.randn(t.shape, generator=generator, dtype=t.dtype) for name, t in shapes.items()}


def filter_normalized(direction: Params, weights: Params) -> Params:
    """Each filter (slice along the first dimension) of the direction rescaled to its weight filter's norm; 1-D
    parameters (biases, norm gains) zeroed."""
    normalized = {}
    for name, d in direction.items():
        w = weights[name]
        if w.ndim <= 1:
            normalized[name] = torch.zeros_like(d)
            continue
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        w_norm = w.flatten(1).norm(dim=1)
        normalized[name] = d * (w_norm / d_norm).view(-1, *([1] * (d.ndim - 1)))
    return normalized


def shifted(weights: Params, steps: Sequence[tuple[float, Params]]) -> Params:
    """weights + sum of alpha * direction."""
    moved = {name: w.clone() for name, w in weights.items()}
    for alpha, direction in steps:
        for name, d in direction.items():
            moved[name].add_(d, alpha=alpha)
    return moved


def line(loss: LossFn, weights: Params, direction: Params, alphas: Sequence[float]) -> list[float]:
    return [loss(shifted(weights, [(a, direction)])) for a in alphas]


def plane(loss: LossFn, weights: Params, first: Params, second: Params, alphas: Sequence[float]) -> list[list[float]]:
    """loss[i][j] at weights + alphas[j] * first + alphas[i] * second (rows: the second direction, as contour
    plots want)."""
    return [[loss(shifted(weights, [(a, first), (b, second)])) for a in alphas] for b in alphas]


def interpolation(loss: LossFn, start: Params, end: Params, ts: Sequence[float]) -> list[float]:
    """The loss at (1 - t) * start + t * end: t = 0 the initial weights, t = 1 the trained ones."""
    direction = {name: end[name] - start[name] for name in start}
    return [loss(shifted(start, [(t, direction)])) for t in ts]


def batch_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
               buffers: Params | None = None) -> LossFn:
    """The mean cross-entropy of `model` with the given parameters on a fixed batch, in eval mode (batch norm uses
    the trained running statistics, dropout is off), without touching the model's own weights."""
    model.eval()
    fixed = buffers or {}

    @torch.no_grad()
    def loss(params: Params) -> float:
        logits = functional_call(model, {**params, **fixed}, (images,))
        return float(nn.functional.cross_entropy(logits, labels))

    return loss
