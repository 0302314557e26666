"""Tiny real trainings through train(cfg): every optimizer, scheduler and CPU precision; seeds; divergence; resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers import OPTIMIZERS, SCHEDULERS, read_summary
from hydra.utils import instantiate
from interrupt import interrupt_after_epoch
from tbparse import SummaryReader
from torch.utils.tensorboard import SummaryWriter

from optlab.config.checks import ConfigError
from optlab.report.runs import read_curves
from optlab.run.callbacks import EpochCheckpoint
from optlab.run.classifier import Classifier, SchedulerSpec
from optlab.run.job import build_model, train


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_trains_or_is_skipped_with_its_reason(make_cfg, tmp_path: Path, name: str) -> None:
    summary = train(make_cfg(f"optimizer={name}"))
    written = read_summary(tmp_path)
    assert written["status"] == summary.status and written["optimizer"] == name
    if name == "sparseadam":
        assert summary.status == "skipped" and "SparseAdam does not support dense gradients" in summary.reason
        return
    assert summary.status == "ok", summary.reason
    assert summary.epochs == 2 and math.isfinite(summary.val_loss) and math.isfinite(summary.test_acc)
    assert summary.params > 0
    assert (summary.optimizer_state_bytes == 0) == (name == "sgd")
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


# Epoch-based schedules whose defaults act later than a 3-epoch test: bring their first change forward.
ACT_WITHIN_3_EPOCHS = {"step": ["scheduler.lr_scheduler.step_size=1"],
                       "multistep": ["scheduler.lr_scheduler.milestones=[1,2]"]}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_scheduler_trains_and_moves_the_lr(make_cfg, tmp_path: Path, name: str) -> None:
    summary = train(make_cfg(f"scheduler={name}", "trainer.max_epochs=3", *ACT_WITHIN_3_EPOCHS.get(name, [])))
    assert summary.status == "ok", summary.reason
    scalars = SummaryReader(str(tmp_path)).scalars
    lrs = scalars[scalars.tag == "lr-SGD"]["value"].tolist()
    assert lrs, "LearningRateMonitor logged no lr"
    if name in ("none", "plateau"):  # plateau waits `patience` epochs before it acts
        assert len(set(lrs)) == 1
    else:
        assert len(set(lrs)) > 1, f"{name} left the lr at {lrs[0]}"


@pytest.mark.parametrize("precision", ["32-true", "64-true", "bf16-mixed"])
def test_cpu_precisions_train(make_cfg, precision: str) -> None:
    summary = train(make_cfg(f"precision={precision}"))
    assert summary.status == "ok" and summary.precision == precision


def test_fp16_on_cpu_is_refused_rather_than_silently_run_as_bf16(make_cfg) -> None:
    with pytest.raises(ConfigError, match="precision=16-mixed .* not supported on CPU.*bf16-mixed"):
        train(make_cfg("precision=16-mixed"))


def test_same_seed_same_initial_weights_for_every_optimizer(make_cfg) -> None:
    weights = {}
    for optimizer, seed in (("sgd", 1), ("adam", 1), ("lion", 2)):
        cfg = make_cfg(f"optimizer={optimizer}", f"seed={seed}")
        datamodule = instantiate(cfg.data)
        datamodule.setup()
        torch.manual_seed(12345)  # whatever ran before must not matter
        weights[optimizer] = torch.cat([p.flatten() for p in build_model(cfg, datamodule).parameters()])
    assert torch.equal(weights["sgd"], weights["adam"])
    assert not torch.equal(weights["sgd"], weights["lion"])


def test_same_command_same_numbers(make_cfg, tmp_path: Path) -> None:
    first = train(make_cfg("optimizer=adam", "data.augment=true", output_dir=tmp_path / "a"))
    second = train(make_cfg("optimizer=adam", "data.augment=true", output_dir=tmp_path / "b"))
    assert (first.train_loss, first.val_loss, first.test_acc) == (second.train_loss, second.val_loss, second.test_acc)


def test_lbfgs_really_trains_on_real_digits(make_cfg) -> None:
    summary = train(make_cfg("optimizer=lbfgs", "data=digits", "trainer.max_epochs=2"))
    assert summary.status == "ok" and summary.val_loss < math.log(10) - 0.5  # chance level is ln(10) = 2.30


def test_huge_lr_ends_as_diverged_with_step_and_epoch(make_cfg, tmp_path: Path) -> None:
    summary = train(make_cfg("optimizer=sgd", "optimizer.lr=1000000"))
    assert summary.status == "diverged"
    assert summary.diverged_step is not None and summary.diverged_epoch == 0
    assert "training loss" in summary.reason and read_summary(tmp_path)["status"] == "diverged"


def test_loss_bound_counts_as_divergence(make_cfg) -> None:
    summary = train(make_cfg("divergence.max_loss=0.5"))  # random labels: the loss stays near ln(10)
    assert summary.status == "diverged" and summary.diverged_step == 1  # caught at the first step


@pytest.mark.parametrize("optimizer", ["sgd", "adamw", "rprop"])  # list-valued settings: betas, etas, step_sizes
def test_interrupted_run_resumes_to_the_same_numbers(optimizer: str, make_cfg, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    setting = ["trainer.max_epochs=4", "model=mnist_net", "data.augment=true", f"optimizer={optimizer}"]
    straight = train(make_cfg(*setting, output_dir=tmp_path / "straight"))
    folder = tmp_path / "interrupted"
    interrupt_after_epoch(monkeypatch, 1)
    with pytest.raises(SystemExit, match="resume=true"):
        train(make_cfg(*setting, output_dir=folder))
    monkeypatch.undo()
    assert read_summary(folder)["status"] == "interrupted" and (folder / "checkpoints" / "last.ckpt").is_file()
    resumed = train(make_cfg(*setting, "resume=true", output_dir=folder))
    assert resumed.status == "ok" and resumed.epochs == 4
    for key in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc", "best_val_acc"):
        assert getattr(resumed, key) == pytest.approx(getattr(straight, key), rel=1e-5, abs=1e-6), key
    again = train(make_cfg(*setting, "resume=true", output_dir=folder))
    assert again == resumed  # finished runs are skipped, their summary kept


def test_train_loss_logged_at_every_nth_step_and_epoch_mean_weighted_by_batch_size(make_cfg, tmp_path: Path) -> None:
    """The step loss is logged only on the steps loggers write; the epoch mean is kept outside self.log."""
    # digits: 1,200 training images in batches of 64 -> 19 steps per epoch, the last one of 48 images.
    every_step = train(make_cfg("data=digits", "trainer.max_epochs=1", output_dir=tmp_path / "every"))
    scalars = SummaryReader(str(tmp_path / "every")).scalars
    steps = scalars[scalars.tag == "train/loss_step"]
    assert steps["step"].tolist() == list(range(19))
    sizes = torch.tensor([64.0] * 18 + [48.0])
    weighted_mean = float((torch.tensor(steps["value"].tolist()) * sizes).sum() / sizes.sum())
    assert every_step.train_loss == pytest.approx(weighted_mean, rel=1e-5)

    every_seventh = train(make_cfg("data=digits", "trainer.max_epochs=2", "trainer.log_every_n_steps=7",
                                   output_dir=tmp_path / "seventh"))
    scalars = SummaryReader(str(tmp_path / "seventh")).scalars
    assert scalars[scalars.tag == "train/loss_step"]["step"].tolist() == [6, 13, 20, 27, 34]
    assert len(scalars[scalars.tag == "train/loss_epoch"]) == 2 and math.isfinite(every_seventh.train_loss)


def test_the_training_loop_waits_for_tensorboard_once_and_every_event_reaches_the_file(
        make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning saves its loggers after every log step; optlab's TensorBoard logger flushes at the first save only,
    and the run's end writes out the rest: 19 steps logged one by one, 2 flushes (fit's start, the HPARAMS entry's
    close) beside the closes of fit and test, and every step's loss in the file."""
    flushes: list[int] = []
    original = SummaryWriter.flush
    monkeypatch.setattr(SummaryWriter, "flush", lambda writer: flushes.append(1) or original(writer))
    summary = train(make_cfg("data=digits", "trainer.max_epochs=1", "trainer.log_every_n_steps=1"))
    assert summary.status == "ok", summary.reason
    assert len(flushes) <= 4, f"{len(flushes)} flushes for 19 logged steps"
    scalars = SummaryReader(str(tmp_path)).scalars
    assert scalars[scalars.tag == "train/loss_step"]["step"].tolist() == list(range(19))
    assert len(scalars[scalars.tag == "lr-SGD"]) == 1  # scheduler=none: the constant lr once an epoch


def test_epoch_and_validation_times_are_measured_per_epoch(make_cfg, tmp_path: Path) -> None:
    summary = train(make_cfg("data=digits", "trainer.max_epochs=2", output_dir=tmp_path / "with_val"))
    assert 0 < summary.val_time_s < summary.epoch_time_s
    scalars = SummaryReader(str(tmp_path / "with_val")).scalars
    assert len(scalars[scalars.tag == "time/val_s"]) == 2 and len(scalars[scalars.tag == "time/epoch_s"]) == 2

    no_val = train(make_cfg("data=digits", "trainer.limit_val_batches=0", output_dir=tmp_path / "no_val"))
    assert no_val.val_time_s == 0 and no_val.epoch_time_s > 0


def test_checkpoint_callback_finds_its_state_in_checkpoints_saved_before(make_cfg) -> None:
    """Lightning keys a callback's state by its state_key (class name and settings): the configured checkpoint
    callback must compute the key last.ckpt files written by earlier optlab runs hold, or resume drops its state."""
    saved = Path(__file__).parent / "fixtures" / "runs_from_de93806" / "interrupted" / "checkpoints" / "last.ckpt"
    callback = instantiate(make_cfg().callbacks.checkpoint)
    assert type(callback) is EpochCheckpoint
    assert callback.state_key in torch.load(saved, map_location="cpu", weights_only=False)["callbacks"]


def test_asgd_is_evaluated_through_its_averaged_weights(make_cfg, tmp_path: Path) -> None:
    """With lambd=0 ASGD's iterates are SGD's; only the averaged weights it is evaluated with can differ."""
    asgd_as_sgd = ["optimizer.lambd=0", "optimizer.lr=0.1"]
    sgd = train(make_cfg("optimizer=sgd", "optimizer.lr=0.1", output_dir=tmp_path / "sgd"))
    never_averaging = train(make_cfg("optimizer=asgd", *asgd_as_sgd, "optimizer.t0=1000000",
                                     output_dir=tmp_path / "never"))
    averaging = train(make_cfg("optimizer=asgd", *asgd_as_sgd, "optimizer.t0=2", output_dir=tmp_path / "averaging"))
    assert never_averaging.val_loss == pytest.approx(sgd.val_loss, rel=1e-6)
    assert never_averaging.test_loss == pytest.approx(sgd.test_loss, rel=1e-6)
    assert abs(averaging.val_loss - sgd.val_loss) > 1e-4  # 50x the tolerance the equalities above hold to
    assert abs(averaging.test_loss - sgd.test_loss) > 1e-4
    assert averaging.train_loss == pytest.approx(sgd.train_loss, rel=1e-6)  # training itself is SGD's


def test_lbfgs_records_each_steps_first_evaluation(make_cfg, tmp_path: Path) -> None:
    """L-BFGS's line search evaluates the loss several times a step; only the first counts as the step's loss."""
    summary = train(make_cfg("optimizer=lbfgs", "data=digits", "trainer.max_epochs=1", "optimizer.max_iter=3"))
    assert summary.status == "ok" and summary.evaluations_per_step > 1.5
    scalars = SummaryReader(str(tmp_path)).scalars
    steps = scalars[scalars.tag == "train/loss_step"]
    assert steps["step"].tolist() == list(range(19))  # one logged loss per optimizer step, not per evaluation
    sizes = torch.tensor([64.0] * 18 + [48.0])
    weighted_mean = float((torch.tensor(steps["value"].tolist()) * sizes).sum() / sizes.sum())
    assert summary.train_loss == pytest.approx(weighted_mean, rel=1e-5)


def test_step_loss_and_evaluation_counts_follow_the_first_call_per_batch() -> None:
    module = Classifier(torch.nn.Linear(4, 3), lambda params: torch.optim.SGD(params, lr=0.1),
                        SchedulerSpec(None, "epoch", 1, None, None))
    module._track_train_loss = lambda *args: None  # no trainer here: only the bookkeeping is under test
    batch = (torch.randn(5, 4), torch.randint(0, 3, (5,)))
    first = module.training_step(batch, 0)
    with torch.no_grad():
        module.model.weight.add_(10.0)  # a line-search probe far away
    module.training_step(batch, 0)
    assert torch.equal(module.step_loss, first.detach()) and (module.evaluations, module.steps) == (2, 1)
    module.training_step(batch, 1)
    assert (module.evaluations, module.steps) == (3, 2)


def test_summary_records_identity_provenance_and_target(make_cfg) -> None:
    summary = train(make_cfg("optimizer=adam", "optimizer.lr=0.002"))
    assert summary.choices["optimizer"] == "adam" and "optimizer.lr=0.002" in summary.overrides
    assert summary.config["optimizer.lr"] == 0.002 and summary.config["data.name"] == "synthetic"
    assert set(summary.versions) >= {"torch", "lightning", "python"} and summary.device
    assert summary.git_commit is None or len(summary.git_commit.split("-")[0]) == 40
    assert summary.target_acc == 0.10  # conf/train.yaml's report.data_targets.synthetic, fixed before the run


def test_validation_several_times_per_epoch_keeps_the_best(make_cfg, tmp_path: Path) -> None:
    summary = train(make_cfg("data=digits", "optimizer=adam", "trainer.val_check_interval=0.5"))
    curves = read_curves(tmp_path)
    positions = curves["val_acc"].dropna().index.tolist()
    # Lightning validates after batches 9 and 18 of 19; optlab validates the final weights after fit (2.0).
    assert positions == pytest.approx([9 / 19, 18 / 19, 1 + 9 / 19, 1 + 18 / 19, 2.0], abs=1e-5)
    assert summary.best_val_acc == pytest.approx(curves["val_acc"].max())
    assert summary.val_acc == pytest.approx(curves["val_acc"].iloc[-1])
    assert curves["train_loss"].dropna().index.tolist() == [1.0, 2.0]


def test_final_validation_accuracy_is_that_of_the_final_weights(make_cfg, tmp_path: Path) -> None:
    """When the last steps come after Lightning's last validation, the summary still validates the weights the
    test measures (the search's objective must be theirs): recomputed here from the saved final weights."""
    cfg = make_cfg("data=digits", "optimizer=sgd", "optimizer.lr=0.3", "trainer.val_check_interval=0.5",
                   "trainer.max_epochs=1")
    summary = train(cfg)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule)
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    model.load_state_dict({name.removeprefix("model."): value for name, value in state.items()})
    images, labels = datamodule.on_after_batch_transfer(datamodule.parts["val"][torch.arange(300)], 0)
    with torch.no_grad():
        accuracy = (model.eval()(images).argmax(dim=1) == labels).float().mean().item()
    assert summary.val_acc == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.parametrize("debug, epochs", [("fdr", 1), ("limit", 2)])
def test_debug_choices_run(make_cfg, debug: str, epochs: int) -> None:
    summary = train(make_cfg(f"debug={debug}", "data=digits", "optimizer=adam", tiny=False))
    assert summary.status == "ok" and summary.epochs == epochs


@pytest.mark.slow
def test_debug_overfit_drives_the_training_loss_towards_zero(make_cfg) -> None:
    summary = train(make_cfg("debug=overfit", "data=digits", "optimizer=adam", "trainer.enable_progress_bar=false",
                             tiny=False))
    assert summary.status == "ok" and summary.train_loss < 0.05
