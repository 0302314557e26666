"""Augmentation on whole uint8 batches (N, C, H, W): one gather instead of N PIL calls."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad by `padding` and cut a random HxW window per image, like torchvision's RandomCrop(padding=...)."""
    if padding <= 0:
        return images
    n, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=images.device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=images.device, generator=generator)
    rows = top + torch.arange(height, device=images.device).view(1, height, 1)
    cols = left + torch.arange(width, device=images.device).view(1, 1, width)
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    # Advanced indexing on (N, H, W) moves channels last: (N, H, W, C) -> back to (N, C, H, W).
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def random_hflip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
