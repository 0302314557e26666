"""resume=true never loses a run: another config is refused, unreadable files are named or set aside, and
checkpoints are written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import read_summary
from interrupt import interrupt_after_epoch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from optlab.run.job import run_job, train
from optlab.run.resume import ResumeError


def test_resume_into_a_folder_with_another_config_is_refused_and_keeps_its_results(make_cfg, tmp_path: Path) -> None:
    finished = train(make_cfg("optimizer=sgd"))
    before = (tmp_path / "summary.json").read_text()
    with pytest.raises(ResumeError, match=r"holds a ok run with another config \(.*optimizer._target_: "
                                          r"torch.optim.SGD -> torch.optim.Adam.*trainer.max_epochs: 2 -> 4"):
        train(make_cfg("optimizer=adam", "trainer.max_epochs=4", "resume=true"))
    failed = run_job(make_cfg("optimizer=adam", "trainer.max_epochs=4", "resume=true"))
    assert failed.status == "failed" and (tmp_path / "summary.json").read_text() == before
    assert train(make_cfg("optimizer=sgd", "resume=true", "trainer.enable_progress_bar=true")) == finished


def test_a_sweep_moved_elsewhere_still_resumes(make_cfg, tmp_path: Path) -> None:
    """The checkpoint folder is part of the saved config but follows the run folder: not a change of config."""
    finished = train(make_cfg("optimizer=sgd", output_dir=tmp_path / "before"))
    (tmp_path / "before").rename(tmp_path / "after")
    resumed = train(make_cfg("optimizer=sgd", "resume=true", output_dir=tmp_path / "after"))
    assert resumed == finished and resumed.config["callbacks.checkpoint.dirpath"].startswith(str(tmp_path / "before"))


def test_a_run_from_an_earlier_optlab_resumes_unless_a_new_setting_is_changed(make_cfg, tmp_path: Path) -> None:
    """Settings added to optlab since a run was made (here compile.*, data.resident, dropped from its summary as the
    earlier code wrote it) are at their defaults and do not stop it from resuming; set on the command line, they
    are a change of config like any other."""
    finished = train(make_cfg("optimizer=sgd"))
    summary = read_summary(tmp_path)
    summary["config"] = {k: v for k, v in summary["config"].items()
                         if not k.startswith("compile.") and k != "data.resident"}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    resumed = train(make_cfg("optimizer=sgd", "resume=true"))
    assert (resumed.status, resumed.val_loss) == (finished.status, finished.val_loss)
    with pytest.raises(ResumeError, match=r"another config \(compile.enabled: None -> True\)"):
        train(make_cfg("optimizer=sgd", "resume=true", "compile.enabled=true"))


def test_how_often_divergence_is_read_is_not_a_change_of_config(make_cfg) -> None:
    """divergence.check_every_n_steps (copied into callbacks.divergence_guard) changes when the host looks, not the
    numbers; its default went from 1 to null (per device), and runs made before must still resume."""
    finished = train(make_cfg("optimizer=sgd", "divergence.check_every_n_steps=1"))
    resumed = train(make_cfg("optimizer=sgd", "resume=true"))
    assert (resumed.status, resumed.val_loss) == (finished.status, finished.val_loss)


def test_a_finished_run_cannot_be_extended_in_place(make_cfg) -> None:
    train(make_cfg("optimizer=sgd"))
    with pytest.raises(ResumeError, match="trainer.max_epochs: 2 -> 3"):
        train(make_cfg("optimizer=sgd", "trainer.max_epochs=3", "resume=true"))


def test_unreadable_summary_is_named_and_left_untouched(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("optimizer=sgd"))
    (tmp_path / "summary.json").write_text('{"optimizer": "sg')
    with pytest.raises(ResumeError, match=r"summary.json is unreadable .*restore it, or delete it to continue"):
        train(make_cfg("optimizer=sgd", "resume=true"))
    assert run_job(make_cfg("optimizer=sgd", "resume=true")).status == "failed"
    assert (tmp_path / "summary.json").read_text() == '{"optimizer": "sg'


def test_truncated_checkpoint_is_set_aside_and_the_run_trained_further_from_scratch(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted 3-epoch run, its checkpoint truncated, resumed with a larger max_epochs: it restarts and
    ends with the numbers of a straight 4-epoch run."""
    straight = train(make_cfg("trainer.max_epochs=4", output_dir=tmp_path / "straight"))
    folder = tmp_path / "interrupted"
    interrupt_after_epoch(monkeypatch, 1)
    with pytest.raises(SystemExit, match="resume=true"):
        train(make_cfg("trainer.max_epochs=3", output_dir=folder))
    monkeypatch.undo()
    checkpoint = folder / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    resumed = train(make_cfg("trainer.max_epochs=4", "resume=true", output_dir=folder))
    assert resumed.status == "ok" and resumed.epochs == 4
    assert (folder / "checkpoints" / "last.ckpt.corrupt").is_file()
    for key in ("train_loss", "val_loss", "test_acc"):
        assert getattr(resumed, key) == pytest.approx(getattr(straight, key), rel=1e-5), key


def test_checkpoint_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning saves through an fsspec transaction (temp file, then rename): a write cut short leaves the
    previous checkpoint whole. This fails if Lightning ever writes in place."""
    path = tmp_path / "last.ckpt"
    io = TorchCheckpointIO()
    io.save_checkpoint({"epoch": 1, "weights": torch.arange(1000)}, path)

    import fsspec.implementations.local as local

    def cut_short(self, data):
        raise KeyboardInterrupt  # as a kill in the middle of writing

    monkeypatch.setattr(local.LocalFileOpener, "write", cut_short)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"epoch": 2, "weights": torch.arange(2000)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=False)["epoch"] == 1
