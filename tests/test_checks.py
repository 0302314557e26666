"""Bad input ends in one line naming the override, before any data is read or any step is trained (in-process:
the command line's own one-line printing is covered in test_cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from optlab.config.checks import ConfigError
from optlab.config.output_dir import CheckOutputDir, unwritable_reason
from optlab.run.job import train


@pytest.mark.parametrize("overrides, message", [
    (["optimizer=adam", "optimizer.betas=[2,3]"],
     "optimizer=adam (torch.optim.Adam) refuses its settings: Invalid beta parameter at index 0: 2; "
     "check optimizer.betas=[2,3]"),
    (["optimizer=momentum", "optimizer.momentum=-1"], "Invalid momentum value: -1; check optimizer.momentum=-1"),
    (["optimizer.weight_decay=-1"], "Invalid weight_decay value: -1; check optimizer.weight_decay=-1"),
    (["optimizer=lion", "optimizer.betas=[2,3]"], "lion_pytorch.Lion) refuses its settings: it failed an assertion"),
    (["optimizer=muon", "optimizer.hidden_optimizer.momentum=-2"], "Invalid momentum value: -2"),
    (["+optimizer.foo=1"], "unexpected keyword argument 'foo'; check +optimizer.foo=1"),
    (["optimizer.lr=nan"], "optimizer.lr=nan must be a positive, finite learning rate"),
    (["optimizer.lr=inf"], "optimizer.lr=inf must be a positive, finite learning rate"),
    (["data.train_size=10.5"], "data.train_size=10.5 must be a whole number or null"),
    (["data.batch_size=8.0"], "data.batch_size=8.0 must be a whole number"),
    (["seed=1.5"], "seed=1.5 must be a whole number"),
    (["data.val_size=1.5"], "data.val_size=1.5 must be a whole number of images or a fraction between 0 and 1"),
    (["resume_refused=halt"], "resume_refused=halt must be one of skip, stop"),
])
def test_bad_input_is_one_line_before_training(make_cfg, tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        train(make_cfg(*overrides))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "checkpoints").exists()  # refused before the trainer existed


def test_output_folder_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert unwritable_reason(blocker / "run") == f"{blocker} is a file, not a folder"
    assert unwritable_reason(tmp_path / "new" / "run") is None and not (tmp_path / "new").exists()
    with pytest.raises(SystemExit, match=r"hydra.run.dir=.*a_file/run cannot be created: .* is a file"):
        CheckOutputDir._check(blocker / "run", "hydra.run.dir")


def test_an_error_is_quoted_by_its_first_line_or_its_type() -> None:
    from optlab.files import first_line

    assert first_line(ValueError("  bad value\nmore detail")) == "bad value"
    assert first_line(EOFError()) == "EOFError"  # an empty message: the type, never an IndexError
