"""A user's own nn.Module: the constructor contract, the forward check before training, and Muon's split and the
per-layer drift on a model that is not one of optlab's (BatchNorm, a residual block, a layer without bias, and a
head registered before the layers it follows)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import assert_one_line, docs_example, make_image_folder, read_summary, run_main
from omegaconf import OmegaConf

from optlab.config.checks import ConfigError
from optlab.models.contract import build_model, ordered_parameters

USER_MODEL = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(x + self.norm(self.conv(x)))


class HeadFirstNet(nn.Module):
    """Registers its head before its stem: registration order is not the order the layers run in."""

    def __init__(self, input_shape, num_classes, width=8):
        super().__init__()
        self.head = nn.Linear(width, num_classes)
        self.stem = nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False)
        self.block = Block(width)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.head(self.pool(self.block(self.stem(x))).flatten(1))


class NoShapeNet(nn.Module):
    def __init__(self, channels):
        super().__init__()


class WrongOutputNet(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.fc = nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], num_classes + 1)

    def forward(self, x):
        return self.fc(x.flatten(1))


class BrokenForwardNet(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.fc = nn.Linear(100, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))
'''


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder holding user_models.py, importable as `python -m optlab.train` run there would import it."""
    (tmp_path / "user_models.py").write_text(USER_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_parameters_follow_the_order_layers_run_in(user_folder: Path) -> None:
    model = build_model(OmegaConf.create({"_target_": "user_models.HeadFirstNet"}), (3, 8, 8), 5)
    names = {id(p): n for n, p in model.named_parameters()}
    order = [names[id(p)] for p in ordered_parameters(model, (3, 8, 8), 5, "user_models.HeadFirstNet")]
    assert order == ["stem.weight", "block.conv.weight", "block.norm.weight", "block.norm.bias", "head.weight",
                     "head.bias"]
    assert [n for n, _ in model.named_parameters()][0] == "head.weight"  # registered first, runs last


def test_the_forward_check_changes_no_statistics_and_draws_no_random_numbers(user_folder: Path) -> None:
    model = build_model(OmegaConf.create({"_target_": "user_models.HeadFirstNet"}), (3, 8, 8), 5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    ordered_parameters(model, (3, 8, 8), 5, "user_models.HeadFirstNet")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running means, batch counts
    assert torch.equal(rng, torch.get_rng_state()) and model.training


@pytest.mark.parametrize("name, options", [("cifar_net", {}), ("mnist_net", {"dropout": 0.25}),
                                           ("resnet", {"channels_last": False}), ("resnet", {"channels_last": True})])
def test_optlabs_own_models_keep_their_registration_order(name: str, options: dict) -> None:
    """So every result published before the ordering existed is computed on the same parameter order."""
    target = OmegaConf.load(Path(__file__).parents[1] / "conf" / "model" / f"{name}.yaml")._target_
    model = build_model(OmegaConf.create({"_target_": target, **options}), (3, 32, 32), 10)
    assert ordered_parameters(model, (3, 32, 32), 10, target) == list(model.parameters())


def test_muon_split_and_layer_drift_on_a_users_model(user_folder: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys) -> None:
    code, printed = run_main("debug=tiny", "model._target_=user_models.HeadFirstNet", "+model.width=6",
                             "optimizer=muon", "hydra.run.dir=run", cwd=user_folder, monkeypatch=monkeypatch,
                             capsys=capsys)
    summary = read_summary(user_folder / "run")
    assert code == 0 and summary["status"] == "ok", printed[-2000:]
    assert summary["model"] == "user_models.HeadFirstNet"
    # Muon's recipe: the hidden convolution; AdamW the first layer (the stem), the head, and the norm's gains.
    assert summary["param_assignment"] == {
        "Muon": ["block.conv.weight"],
        "AdamW": ["stem.weight", "block.norm.weight", "block.norm.bias", "head.weight", "head.bias"]}
    assert set(summary["layer_drift"]) == {"stem", "block.conv", "block.norm", "head"}
    assert all(drift > 0 for drift in summary["layer_drift"].values())


@pytest.mark.parametrize("overrides, message", [
    (["model._target_=no_such_module.Net"],
     "model._target_=no_such_module.Net cannot be imported (ModuleNotFoundError: No module named 'no_such_module'); "
     "run from the folder that holds its module"),
    (["model._target_=user_models.NoShapeNet"],
     "model._target_=user_models.NoShapeNet failed when called with input_shape=(3, 32, 32), num_classes=10 and the "
     "other model.* keys (TypeError: NoShapeNet.__init__() got an unexpected keyword argument 'input_shape')"),
    (["model._target_=user_models.BrokenForwardNet"],
     "model user_models.BrokenForwardNet failed on a batch of shape (2, 3, 32, 32) (the data's input_shape "
     "(3, 32, 32)): RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x3072 and 100x10)"),
    (["model._target_=user_models.WrongOutputNet"],
     "model user_models.WrongOutputNet returned (2, 11) for a batch of shape (2, 3, 32, 32); it must return logits "
     "of shape (2, 10) (batch, num_classes)"),
])
def test_a_model_that_breaks_the_contract_is_one_line_before_training(
        user_folder: Path, overrides: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main("debug=tiny", *overrides, "hydra.run.dir=run", cwd=user_folder, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code not in (0, None) and "Traceback" not in printed and "\n" not in str(code)
    assert_one_line(str(code), message)
    assert not list(user_folder.rglob("*.ckpt")) and not list(user_folder.rglob("events.out.tfevents*"))


def test_a_model_config_of_the_users_own_through_hydras_search_path(user_folder: Path,
                                                                    monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    conf = user_folder / "my_conf" / "model"
    conf.mkdir(parents=True)
    (conf / "head_first.yaml").write_text("_target_: user_models.HeadFirstNet\nwidth: 4\n")
    code, printed = run_main("debug=tiny", "model=head_first", f"hydra.searchpath=[file://{user_folder / 'my_conf'}]",
                             "hydra.run.dir=run", cwd=user_folder, monkeypatch=monkeypatch, capsys=capsys)
    summary = read_summary(user_folder / "run")
    assert code == 0 and summary["status"] == "ok" and summary["model"] == "head_first", printed[-2000:]
    assert summary["params"] == 3 * 4 * 9 + 4 * 4 * 9 + 2 * 4 + 4 * 10 + 10


def test_build_model_refuses_what_is_not_a_module(user_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"model._target_=builtins.dict returned a dict, not a torch.nn.Module"):
        build_model(OmegaConf.create({"_target_": "builtins.dict"}), (3, 8, 8), 5)


@pytest.mark.slow
def test_the_docs_own_model_example_runs_as_written(tmp_path: Path) -> None:
    """docs/data.md "Your images, your model": my_model.py and the tune command, as quoted, on a generated image
    folder."""
    (tmp_path / "my_model.py").write_text(docs_example("data.md", "my_model.py"))
    make_image_folder(tmp_path / "images", per_class=40)
    command = shlex.split(docs_example("data.md", "tune"))
    assert command[:3] == ["python", "-m", "optlab.tune"]
    result = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = tmp_path / result.stdout.strip().splitlines()[-1].removeprefix("tuning report: ")  # relative to cwd
    assert report.is_file() and "sgd" in report.read_text() and "adam" in report.read_text()
    reruns = [read_summary(p.parent) for p in tmp_path.glob("outputs/tune/*/*/tuned/*/*/summary.json")]
    assert len(reruns) == 4 and all(r["status"] == "ok" and r["model"] == "my_model.MyNet" for r in reruns)
    assert all(r["classes"] == ["checker", "horizontal", "vertical"] for r in reruns)
    per_class = (report.parent / "tuned" / "summary.md").read_text()
    assert "## Test accuracy per class" in per_class and "| group | checker | horizontal | vertical |" in per_class
