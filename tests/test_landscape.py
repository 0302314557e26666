"""optlab.landscape: filter-normalized directions, the loss around a minimum, and the command on a sweep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import closure_step
from PIL import Image

from optlab.landscape import surface


def test_filter_normalization_gives_each_filter_its_weights_norm_and_biases_nothing() -> None:
    weights = {"conv.weight": torch.randn(4, 3, 3, 3) * torch.arange(1, 5).view(4, 1, 1, 1), "conv.bias": torch.ones(4)}
    direction = surface.random_direction(weights, torch.Generator().manual_seed(0))
    normalized = surface.filter_normalized(direction, weights)
    norms = weights["conv.weight"].flatten(1).norm(dim=1)
    torch.testing.assert_close(normalized["conv.weight"].flatten(1).norm(dim=1), norms)
    assert not normalized["conv.bias"].any()


def test_the_same_generator_seed_gives_every_model_the_same_direction() -> None:
    shapes = {"w": torch.zeros(5, 2)}
    first = surface.random_direction(shapes, torch.Generator().manual_seed(3))
    again = surface.random_direction(shapes, torch.Generator().manual_seed(3))
    torch.testing.assert_close(first["w"], again["w"])


def test_at_the_minimum_of_a_convex_problem_the_centre_is_lowest() -> None:
    """Multinomial logistic regression is convex in its weights: solved to its minimum (L-BFGS), every point of
    the line and of the plane around it has a higher loss than the centre."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    images, labels = torch.randn(200, 4), torch.randint(0, 3, (200,))  # random labels: a finite minimum
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=500, tolerance_grad=1e-10,
                                  line_search_fn="strong_wolfe")
    closure_step(optimizer, model, images, labels)
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    loss = surface.batch_loss(model, images, labels)
    generator = torch.Generator().manual_seed(0)
    first, second = (surface.filter_normalized(surface.random_direction(weights, generator), weights)
                     for _ in range(2))
    alphas = [-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0]
    line = surface.line(loss, weights, first, alphas)
    plane = surface.plane(loss, weights, first, second, alphas)
    centre = line[3]
    assert all(value > centre for i, value in enumerate(line) if i != 3)
    assert all(value > centre for i, row in enumerate(plane) for j, value in enumerate(row) if (i, j) != (3, 3))
    assert plane[3][3] == pytest.approx(centre)


def test_interpolation_runs_from_the_initial_to_the_final_loss() -> None:
    model = torch.nn.Linear(3, 2)
    images, labels = torch.randn(10, 3), torch.randint(0, 2, (10,))
    loss = surface.batch_loss(model, images, labels)
    start = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    end = {n: p.detach().clone() for n, p in model.named_parameters()}
    values = surface.interpolation(loss, start, end, [0.0, 1.0])
    assert values[0] == pytest.approx(torch.log(torch.tensor(2.0)).item())  # zero weights: uniform over 2 classes
    assert values[1] == pytest.approx(loss(end))


def landscape(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optlab.landscape", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_landscape_of_a_sweep_draws_every_run_of_a_seed_and_names_what_it_left_out(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    trained = subprocess.run(
        [sys.executable, "-m", "optlab.train", "-m", "debug=tiny", "optimizer=sgd,adam,adadelta", "seed=1,2",
         f"hydra.sweep.dir={sweep}", "report.enabled=false"], cwd=tmp_path, capture_output=True, text=True,
        timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    (adadelta,) = sweep.glob("*_adadelta_seed1")
    (adadelta / "checkpoints" / "last.ckpt").unlink()

    result = landscape(str(sweep), "--grid", "5", "--subset", "16", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = sweep / "report" / "landscape"
    numbers = json.loads((out / "landscape.json").read_text())
    assert sorted(item["label"] for item in numbers) == ["adam", "sgd"] and {item["seed"] for item in numbers} == {1}
    start, end = numbers[0]["ts"].index(0.0), numbers[0]["ts"].index(1.0)
    for item in numbers:
        assert item["interpolation"][end] == pytest.approx(item["line"][2], rel=1e-5)  # t=1 is the centre
    initial = {item["label"]: item["interpolation"][start] for item in numbers}
    assert initial["adam"] == pytest.approx(initial["sgd"], rel=1e-6)  # one seed: one shared starting point
    assert "adadelta_seed1: no checkpoints/last.ckpt" in (out / "landscape.md").read_text()
    for name in ("landscape_1d.png", "landscape_2d.png", "interpolation.png"):
        assert Image.open(out / name).size[0] > 500

    missing = landscape(str(sweep), "--seed", "7", cwd=tmp_path)
    assert missing.returncode == 2 and "no finished run of seed 7; seeds present: [1, 2]" in missing.stderr
    assert "Traceback" not in missing.stderr
