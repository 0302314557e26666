"""One optimizer descending a 2-D test function, and the small learning-rate grid that picks its lr.

The point (x, y) is a single 2-element parameter; the optimizer is built from the same `conf/optimizer/*.yaml`
partial as for a CNN, so a trajectory shows exactly the update rule and settings a training run uses. Each step
passes a closure (L-BFGS needs one; the others evaluate it once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.optim import Optimizer

from optlab.trajectories.functions import PlaneFunction

OptimizerFactory = Callable[..., Optimizer]


@dataclass
class Trajectory:
    lr: float
    points: list[tuple[float, float]]  # the start, then the point after each step
    values: list[float]  # f at each point
    left_box_at: int | None = None  # the step at which it left the drawn box (stopped there), if it did

    @property
    def score(self) -> float:
        """What the lr grid minimises: the mean of f over the run, the stopped ones counted at their last value
        for the remaining steps (the area under the loss curve: low early counts as much as low at the end)."""
        return sum(self.values) / len(self.values) if all(map(math.isfinite, self.values)) else math.inf


@dataclass
class GridResult:
    chosen: Trajectory
    scores: dict[float, float] = field(default_factory=dict)  # lr -> score, inf where it went non-finite


def descend(function: PlaneFunction, make_optimizer: OptimizerFactory, lr: float, steps: int) -> Trajectory:
    """Run `steps` steps from function.start; stop where the point leaves the box or f becomes non-finite."""
    point = torch.tensor(function.start, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer(params=[point], lr=lr)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = function(point[0], point[1])
        value.backward()
        return value

    with torch.no_grad():
        trajectory = Trajectory(lr, [tuple(point.tolist())], [float(function(point[0], point[1]))])
    for step in range(1, steps + 1):
        optimizer.step(closure)
        with torch.no_grad():
            x, y = point.tolist()
            value = float(function(point[0], point[1]))
        if not math.isfinite(value) or not function.inside(x, y):
            trajectory.left_box_at = step
            break
        trajectory.points.append((x, y))
        trajectory.values.append(value)
    trajectory.values += [trajectory.values[-1]] * (steps + 1 - len(trajectory.values))  # held where it stopped
    return trajectory


def choose_lr(function: PlaneFunction, make_optimizer: OptimizerFactory, grid: Sequence[float],
              steps: int) -> GridResult:
    """The grid's lr with the lowest score (ties: the smaller lr). Every lr runs the same number of steps."""
    runs = [descend(function, make_optimizer, lr, steps) for lr in sorted(grid)]
    best = min(runs, key=lambda run: run.score)
    return GridResult(best, {run.lr: run.score for run in runs})
