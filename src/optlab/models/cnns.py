"""The CNNs, as plain nn.Modules. Each takes the data's input shape and class count, so any model runs on any data."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18


def flat_features(features: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Size of the flattened feature map, found by running a zero image through `features` (consumes no RNG)."""
    with torch.no_grad():
        return features(torch.zeros(1, *input_shape)).numel()


class CifarNet(nn.Module):
    """The course CNN: conv 6@5x5 - pool - conv 16@5x5 - pool - fc 120 - 84 - classes."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(flat_features(self.features, input_shape), 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MnistNet(nn.Module):
    """conv 16@3x3 - conv 32@3x3 - maxpool - dropout - fc 64 - classes."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, dropout: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], 16, 3), nn.ReLU(),
            nn.Conv2d(16, 32, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(dropout),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(flat_features(self.features, input_shape), 64), nn.ReLU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ChannelsLast(nn.Module):
    """Runs a model in NHWC memory layout, converting each input batch to match its weights."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last))


def resnet18_small(input_shape: tuple[int, int, int], num_classes: int, channels_last: bool) -> nn.Module:
    """ResNet-18 for small images: a 3x3 stride-1 stem and no max-pool keep 32x32 inputs from shrinking to 1x1."""
    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return ChannelsLast(model) if channels_last else model
