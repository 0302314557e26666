"""The 2-D test functions, as pure torch functions of a point (x, y), with where a descent starts and the box
that is drawn. Written for tensors so autograd gives the gradients the optimizers see."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Surface = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rosenbrock(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A curved, flat-bottomed valley; minimum 0 at (1, 1). Tests how well an optimizer follows a bending valley."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rastrigin(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A bowl covered in local minima; global minimum 0 at (0, 0). Momentum may carry an optimizer across them."""
    return 20 + x**2 - 10 * torch.cos(2 * math.pi * x) + y**2 - 10 * torch.cos(2 * math.pi * y)


def saddle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x^2 - y^2: a saddle point at (0, 0), unbounded below along y. Starting almost on the ridge (y tiny), the
    gradient along y is tiny too: how fast an optimizer escapes is what the picture shows."""
    return x**2 - y**2


def beale(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sharp ridges and flat plateaus; minimum 0 at (3, 0.5)."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def quadratic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A convex, ill-conditioned bowl (condition number 10); minimum 0 at (0, 0): every optimizer should get there."""
    return 0.5 * (x**2 + 10 * y**2)


SURFACES: dict[str, Surface] = {f.__name__: f for f in (rosenbrock, rastrigin, saddle, beale, quadratic)}


@dataclass(frozen=True)
class PlaneFunction:
    """A `function/*.yaml` choice."""

    name: str
    start: Sequence[float]  # (x, y)
    x_range: Sequence[float]  # (low, high): the drawn box; a descent that leaves it is stopped where it left
    y_range: Sequence[float]
    minimum: Sequence[float] | None  # marked on the plot; None where there is none (saddle)
    log_contours: bool  # contour levels on a log scale (deep narrow valleys)

    def __post_init__(self) -> None:
        if self.name not in SURFACES:
            raise ValueError(f"unknown function {self.name!r}; choose one of {', '.join(SURFACES)}")

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return SURFACES[self.name](x, y)

    def inside(self, x: float, y: float) -> bool:
        return self.x_range[0] <= x <= self.x_range[1] and self.y_range[0] <= y <= self.y_range[1]
