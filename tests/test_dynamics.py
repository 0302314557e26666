"""optlab.run.dynamics: per-layer gradient and update norms while training, and how far each layer moved."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import read_summary, run_main
from tbparse import SummaryReader

from optlab.models.cnns import CifarNet
from optlab.report.write import ReportOptions, write_report
from optlab.run.dynamics import layer_drift, layers, snapshot


def test_layers_group_each_modules_weight_and_bias() -> None:
    named = layers(CifarNet((3, 32, 32), 10))
    assert list(named) == ["features.0", "features.3", "classifier.0", "classifier.2", "classifier.4"]
    assert all(len(params) == 2 for params in named.values())


def test_layer_drift_is_the_relative_distance_from_the_initial_weights() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    initial = snapshot(model)
    with torch.no_grad():
        model[0].weight.mul_(1.5)  # moves by half the weight's norm; the bias stays
        model[0].bias.zero_()
    drift = layer_drift(initial, model)
    w, b = initial["0"]
    expected = torch.sqrt((0.5 * w).square().sum() + b.square().sum()) / torch.sqrt(w.square().sum() + b.square().sum())
    assert drift["0"] == pytest.approx(float(expected), rel=1e-6)
    assert drift["1"] == 0.0


def test_sgd_updates_are_lr_times_the_gradient_on_the_logged_steps(tmp_path: Path, monkeypatch, capsys) -> None:
    """Plain SGD's update is exactly lr x gradient: the logged norms must say so, layer by layer, and only every
    callbacks.dynamics.every_n_steps steps."""
    code, printed = run_main("debug=tiny", "optimizer=sgd", "optimizer.lr=0.1", "callbacks.dynamics.every_n_steps=2",
                             "hydra.run.dir=run", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, printed[-2000:]
    scalars = SummaryReader(str(tmp_path / "run")).scalars
    dynamics = scalars[scalars.tag.str.startswith("dynamics/")].pivot_table(index="step", columns="tag",
                                                                           values="value")
    assert len(dynamics) >= 3 and all(step % 2 == 0 for step in dynamics.index)
    for layer in ("features.0", "classifier.4", None):
        suffix = f"/{layer}" if layer else ""
        update, grad = dynamics[f"dynamics/update_norm{suffix}"], dynamics[f"dynamics/grad_norm{suffix}"]
        assert (update - 0.1 * grad).abs().max() < 1e-5 * grad.max()
    summary = read_summary(tmp_path / "run")
    assert set(summary["layer_drift"]) == {"features.0", "features.3", "classifier.0", "classifier.2", "classifier.4"}
    assert all(0 < value < 1 for value in summary["layer_drift"].values())

    outputs = write_report([tmp_path / "run"], tmp_path / "report", ReportOptions())
    assert {"layer_drift.png", "dynamics.png"} <= {p.name for p in outputs.figures}
