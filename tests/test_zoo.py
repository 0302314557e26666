"""optimizer=zoo/any: pytorch-optimizer's optimizers by name, the awkward ones handled, the impossible ones refused
in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_optimizer
import torch
from helpers import read_summary, run_main
from hydra.utils import instantiate

import optlab.run.classifier
from optlab.config.checks import ConfigError
from optlab.models.cnns import CifarNet
from optlab.optim.averaging import switch_to_evaluation, switch_to_training
from optlab.optim.hidden_split import split_hidden
from optlab.optim.zoo import zoo_optimizer

FAST = ["debug=tiny", "trainer.max_epochs=1", "hydra.run.dir=run", "optimizer=zoo/any"]


def test_zoo_builds_the_named_optimizer_with_the_library_default_lr(make_cfg) -> None:
    cfg = make_cfg("optimizer=zoo/any", "optimizer.name=adabelief")
    optimizer = instantiate(cfg.optimizer)(params=CifarNet((3, 32, 32), 10).parameters())
    library_class = pytorch_optimizer.load_optimizer("adabelief")
    assert type(optimizer) is library_class
    assert optimizer.param_groups[0]["lr"] == library_class([torch.zeros(1)]).defaults["lr"]


def test_zoo_passes_lr_and_options(make_cfg) -> None:
    cfg = make_cfg("optimizer=zoo/any", "optimizer.name=madgrad", "optimizer.lr=0.005",
                   "+optimizer.options.momentum=0.8")
    optimizer = instantiate(cfg.optimizer)(params=CifarNet((3, 32, 32), 10).parameters())
    assert optimizer.param_groups[0]["lr"] == 0.005 and optimizer.param_groups[0]["momentum"] == 0.8


def test_muon_style_zoo_optimizers_get_the_hidden_split_as_flagged_groups() -> None:
    model = CifarNet((3, 32, 32), 10)
    optimizer = zoo_optimizer(model.parameters(), "muon")
    hidden, others = split_hidden(model.parameters())
    muon_group, adamw_group = optimizer.param_groups
    assert muon_group["use_muon"] and not adamw_group["use_muon"]
    assert [id(p) for p in muon_group["params"]] == [id(p) for p in hidden]
    assert [id(p) for p in adamw_group["params"]] == [id(p) for p in others]


@pytest.mark.parametrize(("name", "message"), [
    ("adabeleif", "pytorch-optimizer has no optimizer 'adabeleif'; did you mean adabelief"),
    ("lomo", "lomo updates the weights inside backward"),
    ("ranger21", "ranger21 needs num_iterations with no default: add +optimizer.options.num_iterations=<value>"),
])
def test_zoo_refusals_are_one_line(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        zoo_optimizer(CifarNet((3, 32, 32), 10).parameters(), name)


def test_a_refused_zoo_optimizer_exits_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main(*FAST, "optimizer.name=adammini", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code not in (0, None) and "Traceback" not in printed
    assert "adammini takes the whole model" in str(code)


@pytest.mark.parametrize("name", ["adahessian", "a2grad", "ranger21"])
def test_awkward_zoo_optimizers_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, name: str) -> None:
    """AdaHessian needs backward(create_graph=True); A2Grad keeps no lr (no LR monitor); Ranger21 needs its
    horizon given."""
    extra = ["+optimizer.options.num_iterations=3"] if name == "ranger21" else []
    code, printed = run_main(*FAST, f"optimizer.name={name}", *extra, cwd=tmp_path, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code == 0, printed[-2000:]
    assert read_summary(tmp_path / "run")["status"] == "ok"


def test_second_order_zoo_optimizers_fail_without_the_gradient_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys) -> None:
    """The create_graph handling is what makes AdaHessian run: without it the same run fails."""
    monkeypatch.setattr(optlab.run.classifier, "needs_create_graph", lambda optimizer: False)
    code, printed = run_main(*FAST, "optimizer.name=adahessian", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code not in (0, None)
    assert read_summary(tmp_path / "run")["status"] == "failed"


def test_schedule_free_optimizers_are_evaluated_at_their_averaged_point() -> None:
    """Schedule-free optimizers train at an interpolated point; eval() moves the weights to the averaged sequence
    and train() moves them back exactly."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = zoo_optimizer(model.parameters(), "schedulefreesgd", lr=0.5)
    inputs, labels = torch.randn(16, 4), torch.randint(0, 2, (16,))
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    training = [p.detach().clone() for p in model.parameters()]
    switched = switch_to_evaluation(optimizer)
    assert switched == [optimizer]
    assert any((p - t).abs().max() > 1e-4 for p, t in zip(model.parameters(), training, strict=True))
    switch_to_training(switched)
    for p, t in zip(model.parameters(), training, strict=True):
        torch.testing.assert_close(p.detach(), t)
    assert switch_to_evaluation(torch.optim.SGD(model.parameters(), lr=0.1)) == []  # plain optimizers: untouched


def test_a_schedule_free_run_validates_in_evaluation_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys) -> None:
    """The Classifier switches the optimizer around every evaluation: without the switch the same run validates
    other weights (a different validation loss)."""
    losses = []
    for switch in (True, False):
        if not switch:
            monkeypatch.setattr(optlab.run.classifier, "switch_to_evaluation", lambda optimizer: [])
        folder = tmp_path / str(switch)
        folder.mkdir()
        code, printed = run_main(*FAST, "optimizer.name=schedulefreesgd", "optimizer.lr=0.5", cwd=folder,
                                 monkeypatch=monkeypatch, capsys=capsys)
        assert code == 0, printed[-2000:]
        losses.append(read_summary(folder / "run")["val_loss"])
    assert losses[0] != pytest.approx(losses[1], rel=1e-6)
