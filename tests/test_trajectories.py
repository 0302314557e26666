"""optlab.trajectories: descents on 2-D functions, the lr grid, and the pictures of a sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

from optlab.trajectories.descent import choose_lr, descend
from optlab.trajectories.functions import PlaneFunction
from optlab.trajectories.record import read_records

QUADRATIC = PlaneFunction("quadratic", (-2.0, 1.5), (-2.5, 2.5), (-2.0, 2.0), (0.0, 0.0), False)
SADDLE = PlaneFunction("saddle", (1.0, 0.001), (-1.5, 1.5), (-1.5, 1.5), None, False)


def sgd(params, lr):
    return torch.optim.SGD(params, lr=lr)


def test_gradient_descent_reaches_the_minimum_of_a_convex_quadratic() -> None:
    path = descend(QUADRATIC, sgd, lr=0.1, steps=300)
    assert path.left_box_at is None and path.values[-1] < 1e-10
    assert max(abs(c) for c in path.points[-1]) < 1e-5
    assert path.points[0] == QUADRATIC.start and len(path.points) == 301


def test_the_grid_picks_the_fastest_stable_lr_and_marks_the_unstable_one() -> None:
    """On 0.5(x^2 + 10y^2) plain GD is stable for lr < 2/10: 0.3 leaves the box, 0.1 converges fastest."""
    result = choose_lr(QUADRATIC, sgd, [0.001, 0.01, 0.1, 0.3], steps=100)
    assert result.chosen.lr == 0.1
    assert result.scores[0.001] > result.scores[0.01] > result.scores[0.1]
    assert descend(QUADRATIC, sgd, 0.3, 100).left_box_at is not None


def test_on_the_saddle_momentum_escapes_sooner_than_plain_gradient_descent() -> None:
    plain = descend(SADDLE, sgd, lr=0.01, steps=1000)
    heavy = descend(SADDLE, lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9), lr=0.01, steps=1000)
    assert heavy.left_box_at is not None and plain.left_box_at is not None
    assert heavy.left_box_at < plain.left_box_at


def test_a_sweep_draws_every_optimizer_and_skips_what_does_not_apply(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "optlab.trajectories", "-m", "optimizer=sgd,adam,lbfgs,muon", "function=quadratic",
         "steps=40", "lr_grid=[0.1,1.0]", "gif_frames=5", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sweep = tmp_path / "sweep"
    records = {r.optimizer: r for r in read_records(sweep)}
    assert records["muon"].status == "skipped" and "a point in the plane is a vector" in records["muon"].reason
    assert {records[n].lr for n in ("sgd", "adam", "lbfgs")} <= {0.1, 1.0}
    assert records["lbfgs"].values[-1] < 1e-6  # a quasi-Newton method solves a quadratic in a few steps
    assert Image.open(sweep / "trajectories.png").size[0] > 600
    with Image.open(sweep / "trajectories.gif") as gif:
        assert gif.n_frames == 5
    table = (sweep / "trajectories.md").read_text()
    assert "| lbfgs |" in table and "skipped: Muon" in table
