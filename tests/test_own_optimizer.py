"""A user's own optimizer class: optimizer=custom/any and a config file of one's own, the optimizer contract
checked before any data is read (as models are), its search range by the rule every shipped optimizer gets, and
its protocol under its own name."""

from __future__ import annotations

import math
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import FASHION_MNIST, assert_one_line, compose_config, docs_example, read_summary, run_main, run_tune

from optlab.config.checks import ConfigError
from optlab.optim.contract import check_optimizer

USER_OPTIMIZERS = '''
import torch


class SignSGD(torch.optim.Optimizer):
    """Takes exactly these keys: any key optlab added (weight_decay, name) would be refused."""

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(p.grad)
                p.add_(buf.sign(), alpha=-group["lr"])
        return loss


class NotAnOptimizer:
    def __init__(self, params, lr):
        self.params = list(params)


class NoLr(torch.optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, {})


class DoesNothing(SignSGD):
    @torch.no_grad()
    def step(self, closure=None):
        return None


class Explodes(SignSGD):
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.mul_(float("nan"))


class ForgetsItsState(SignSGD):
    """Keeps its momentum outside self.state: a resumed run would start it from zero."""

    def __init__(self, params, lr, momentum=0.9):
        super().__init__(params, lr, momentum)
        self.kept = {}

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.kept.setdefault(id(p), torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(p.grad)
                p.add_(buf.sign(), alpha=-group["lr"])


class HiddenClosure(SignSGD):
    """Calls its closure whatever it is given, though it says closure=None."""

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            closure()
        return super().step()


class BrokenImport(SignSGD):
    pass
'''

PAGE = "tools/your-optimizer.md"
CUSTOM = ["optimizer=custom/any", "optimizer.lr=0.01", "optimizer_name=signsgd"]


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder holding my_optim.py, importable as `python -m optlab.train` run there would import it."""
    (tmp_path / "my_optim.py").write_text(USER_OPTIMIZERS)
    (tmp_path / "broken_optim.py").write_text("import no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def custom(target: str, *extra: str, output_dir: Path) -> object:
    return compose_config(["optimizer=custom/any", f"optimizer._target_={target}", "optimizer.lr=0.01",
                           "optimizer_name=mine", *extra], output_dir).optimizer


def test_a_custom_optimizer_trains_under_its_own_name_with_only_its_own_keys(
        user_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main("debug=tiny", *CUSTOM, "optimizer._target_=my_optim.SignSGD", "+optimizer.momentum=0.9",
                             "hydra.run.dir=run", cwd=user_folder, monkeypatch=monkeypatch, capsys=capsys)
    summary = read_summary(user_folder / "run")
    assert code == 0 and summary["status"] == "ok", printed[-2000:]
    assert summary["optimizer"] == "signsgd" and summary["lr"] == 0.01
    assert summary["config"]["optimizer.momentum"] == 0.9 and "optimizer.weight_decay" not in summary["config"]
    assert summary["param_assignment"] == {"SignSGD": summary["param_assignment"]["SignSGD"]}


def test_a_multirun_names_the_custom_optimizers_run_folders(user_folder: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys) -> None:
    code, printed = run_main("-m", "debug=tiny", *CUSTOM, "optimizer._target_=my_optim.SignSGD", "seed=1,2",
                             "hydra.sweep.dir=sweep", cwd=user_folder, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, printed[-2000:]
    assert sorted(p.parent.name for p in (user_folder / "sweep").glob("*/summary.json")) == [
        "0_signsgd_seed1", "1_signsgd_seed2"]


def test_an_optimizer_config_of_the_users_own_through_hydras_search_path(
        user_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    conf = user_folder / "my_conf" / "optimizer"
    conf.mkdir(parents=True)
    (conf / "signsgd.yaml").write_text("_target_: my_optim.SignSGD\n_partial_: true\nlr: 0.01\nmomentum: 0.9\n")
    code, printed = run_main("debug=tiny", "optimizer=signsgd", f"hydra.searchpath=[file://{user_folder / 'my_conf'}]",
                             "hydra.run.dir=run", cwd=user_folder, monkeypatch=monkeypatch, capsys=capsys)
    summary = read_summary(user_folder / "run")
    assert code == 0 and summary["status"] == "ok" and summary["optimizer"] == "signsgd", printed[-2000:]


@pytest.mark.parametrize("target, message", [
    ("no_such_module.Opt", "optimizer=mine: optimizer._target_=no_such_module.Opt cannot be imported "
                           "(ModuleNotFoundError: No module named 'no_such_module'); run from the folder"),
    ("broken_optim.Opt", "optimizer=mine: optimizer._target_=broken_optim.Opt cannot be imported "
                         "(ModuleNotFoundError: No module named 'no_such_dependency')"),
    ("my_optim.NotAnOptimizer", "optimizer=mine: my_optim.NotAnOptimizer made a NotAnOptimizer, not a "
                                "torch.optim.Optimizer"),
    ("my_optim.NoLr", "optimizer=mine (my_optim.NoLr) refuses its settings: NoLr.__init__() got an unexpected "
                      "keyword argument 'lr'; check the optimizer.* settings"),
    ("my_optim.DoesNothing", "optimizer=mine: one step on a small model left every parameter unchanged"),
    ("my_optim.Explodes", "optimizer=mine: one step on a small model made parameters NaN or infinite (lr 0.01)"),
    ("my_optim.ForgetsItsState", "optimizer=mine: after load_state_dict(state_dict()) its next step differs"),
    ("my_optim.HiddenClosure", "optimizer=mine: step() needs a closure but declares closure=None (TypeError: "
                               "'NoneType' object is not callable); declare it required"),
])
def test_each_breach_of_the_optimizer_contract_is_one_line(user_folder: Path, target: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_optimizer(custom(target, output_dir=user_folder), "mine", [])
    assert_one_line(str(refused.value), message)


def test_a_breach_stops_the_run_before_any_data_is_read_or_anything_trained(
        user_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main("debug=tiny", *CUSTOM, "optimizer._target_=my_optim.DoesNothing", "data=image_folder",
                             "data.root=no/such/folder", "hydra.run.dir=run", cwd=user_folder, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code not in (0, None) and "Traceback" not in printed  # the contract, not the missing images, is named
    assert_one_line(str(code), "optlab: optimizer=signsgd: one step on a small model left every parameter unchanged")
    assert not list(user_folder.rglob("*.ckpt")) and not list(user_folder.rglob("events.out.tfevents*"))


def test_every_shipped_optimizer_keeps_the_contract(tmp_path: Path) -> None:
    """Muon's hidden/other split, L-BFGS's declared closure, the textbook ones and the zoo's, all through the same
    check; SparseAdam, which cannot run on a CNN at all, is left to the run (skipped with its reason)."""
    conf = Path(__file__).parents[1] / "conf" / "optimizer"
    names = sorted(str(p.relative_to(conf).with_suffix("")) for p in conf.rglob("*.yaml") if p.parent.name != "custom")
    assert "muon" in names and "textbook/adam" in names and "zoo/any" in names and len(names) >= 27
    for name in names:
        check_optimizer(compose_config([f"optimizer={name}"], tmp_path).optimizer, name, [])


@pytest.mark.parametrize("name", ["adam", "textbook/adam", "my/adam"])
def test_a_custom_optimizer_may_not_take_a_shipped_name(user_folder: Path, name: str,
                                                        monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = run_main("debug=tiny", "optimizer=custom/any", "optimizer._target_=my_optim.SignSGD",
                             "optimizer.lr=0.01", f"optimizer_name={name}", "hydra.run.dir=run", cwd=user_folder,
                             monkeypatch=monkeypatch, capsys=capsys)
    assert_one_line(str(code), f"optimizer_name={name} is a shipped optimizer's name or holds a '/'")
    assert not list(user_folder.rglob("*.ckpt")) and not list(user_folder.rglob("events.out.tfevents*"))


def test_an_unlisted_optimizer_is_searched_over_three_decades_centred_on_its_lr(tmp_path: Path) -> None:
    """The width every shipped optimizer's range has (conf/hparams_search/lr.yaml), so no one gets a wider search."""
    cfg = compose_config(["hparams_search=lr", *CUSTOM, "optimizer._target_=torch.optim.SGD"], tmp_path)
    low, high = cfg.search.lr_range
    assert math.log10(high / low) == pytest.approx(3) and math.sqrt(low * high) == pytest.approx(0.01)
    listed = compose_config(["hparams_search=lr"], tmp_path).search
    assert all(math.log10(b / a) == pytest.approx(3) for a, b in listed.lr_ranges.values())
    zoo = compose_config(["hparams_search=lr", "optimizer=zoo/any", "optimizer.name=prodigy", "optimizer.lr=1.0"],
                         tmp_path)
    assert math.sqrt(zoo.search.lr_range[0] * zoo.search.lr_range[1]) == pytest.approx(1.0)


@pytest.mark.slow  # make test covers it through tests/test_against.py's protocol of a custom optimizer
def test_tune_runs_a_custom_optimizers_protocol_under_its_name(user_folder: Path) -> None:
    out = user_folder / "tune"
    result = run_tune(*CUSTOM, "optimizer._target_=my_optim.SignSGD", "debug=tiny", "data=digits", "budget=2",
                      "seeds=1", "selection.seeds=1", "widen.rounds=0", f"out={out}", cwd=user_folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in (out / "search").iterdir()} == {"signsgd"}
    tuning = pd.read_csv(out / "report" / "tuning.csv").set_index("optimizer")
    assert list(tuning.index) == ["signsgd"]
    row = tuning.loc["signsgd"]
    assert math.log10(row.configured_high / row.configured_low) == pytest.approx(3) and row.default_lr == 0.01
    reruns = [read_summary(p.parent) for p in (out / "tuned").rglob("summary.json")]
    assert reruns and all(r["optimizer"] == "signsgd" and r["status"] == "ok" for r in reruns)


@pytest.mark.parametrize("args, message", [
    (["optimizer=custom/any,sgd", "optimizer._target_=my_optim.SignSGD", "optimizer.lr=0.01", "optimizer_name=s"],
     "optimizer=custom/any,sgd: optimizer=custom/any takes its class from overrides that every optimizer of the "
     "protocol "
     "would get; tune it alone"),
    (["optimizer=custom/any", "optimizer._target_=my_optim.SignSGD", "optimizer.lr=0.01"],
     "optimizer=custom/any needs its name for the protocol's studies and report: optimizer_name=<yours>"),
    (["optimizer=custom/any", "optimizer._target_=my_optim.SignSGD", "optimizer_name=s"],
     "optimizer=custom/any needs optimizer.lr= (your class, and the lr the search is centred on)"),
    (["optimizer=custom/any", "optimizer._target_=my_optim.DoesNothing", "optimizer.lr=0.01", "optimizer_name=s"],
     "optimizer=s: one step on a small model left every parameter unchanged"),
])
def test_tune_refuses_a_custom_optimizer_it_cannot_name_or_keep_apart(user_folder: Path, args: list[str],
                                                                      message: str) -> None:
    result = run_tune(*args, "debug=tiny", "data=digits", f"out={user_folder / 'tune'}", cwd=user_folder)
    assert result.returncode == 2, result.stderr[-3000:]
    assert_one_line(result.stderr, message)


def test_the_docs_class_and_run_work_as_written(tmp_path: Path) -> None:
    (tmp_path / "my_optim.py").write_text(docs_example(PAGE, "my_optim.py"))
    command = shlex.split(docs_example(PAGE, "one run"))
    assert command[:3] == ["python", "-m", "optlab.train"]
    result = subprocess.run([sys.executable, *command[1:], "trainer.max_epochs=1", "hydra.run.dir=run"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(tmp_path / "run")
    assert summary["optimizer"] == "signsgd" and summary["status"] == "ok" and summary["val_acc"] > 0.5


@pytest.mark.published
@pytest.mark.timeout(3600)  # a whole protocol for one optimizer: about 11 min on an idle 2-core machine, not 15 at most
@pytest.mark.skipif(not (Path(__file__).parents[1] / "docs" / "results" / "tuning_v3" / "protocol.json").is_file(),
                    reason="tune v3's Fashion-MNIST protocol is not published yet (issue 37): nothing to pair with")
def test_the_docs_against_example_runs_as_written(tmp_path: Path) -> None:
    """The page's against= command, in a folder beside a clone's docs/ (as the page says to run it): the published
    Fashion-MNIST protocol, its baselines read, not rerun."""
    (tmp_path / "my_optim.py").write_text(docs_example(PAGE, "my_optim.py"))
    (tmp_path / "docs").symlink_to(Path(__file__).parents[1] / "docs")
    command = shlex.split(docs_example(PAGE, "against"))
    # Offline with Debian's copy (dataset-fashion-mnist, as CI installs it): the page's data.root= for a local copy.
    local = [f"data.root={FASHION_MNIST}"] if FASHION_MNIST.is_dir() else []
    result = subprocess.run([sys.executable, *command[1:], *local], cwd=tmp_path, capture_output=True, text=True,
                            timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("against report: ")]
    against = Path(line.removeprefix("against report: "))
    summary = (tmp_path / against).read_text()
    assert "- tuned: signsgd ranks " in summary and "rerun here: test accuracy" in summary, summary
