"""Published run records and `against=`: a protocol's runs.csv, curves.csv and protocol.json are enough to redraw its
report, and a user's optimizer is tuned by the published protocol's rules and paired with every optimizer it
published, without rerunning them; anything that would make the pairing unfair is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_one_line, docs_example, run_tune

from optlab.report.records import read_records, recorded_runs
from optlab.report.write import ReportOptions, report_runs

MINE = ["optimizer=custom/any", "optimizer._target_=my_optim.SignSGD", "optimizer.lr=0.01", "optimizer_name=signsgd"]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small protocol as optlab publishes one: its report folder, the run folders beside it deleted."""
    root = tmp_path_factory.mktemp("published")
    result = run_tune("optimizer=sgd,adam", "debug=tiny", "data=digits", "budget=2", "seeds=2", "selection.seeds=1",
                      "widen.rounds=0", "workers=2", f"out={root / 'tune'}", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (root / "tune" / "report").rename(root / "report")
    return root / "report"


def test_a_published_report_is_redrawn_from_its_records_alone(published: Path, tmp_path: Path) -> None:
    records = read_records(published)
    assert {"training", "rules", "seeds", "versions"} <= set(records.protocol)
    assert records.protocol["seeds"]["rerun"] == [1, 2] and records.protocol["rules"]["budget"] == 2
    assert records.protocol["training"]["data.name"] == "digits"
    assert records.protocol["choices"] == {"data": "digits", "model": "cifar_net", "scheduler": "none",
                                           "precision": "32-true"}
    assert records.runs["git_commit"].str.len().gt(0).all()  # the code each run ran, from its summary
    outputs = report_runs(recorded_runs(records, "tuned"), tmp_path, ReportOptions(group_by=["optimizer"]))
    redrawn = pd.read_csv(tmp_path / "summary.csv").set_index("optimizer")
    shipped = pd.read_csv(published / "tuned" / "summary.csv").set_index("optimizer")
    for column in ("val_acc", "test_acc", "test_acc_low", "test_acc_high", "p_holm", "best_val_acc",
                   "optimizer_state_bytes", "epoch_time_s", "evaluations_per_step", "epochs_to_target"):
        assert redrawn[column].to_dict() == pytest.approx(shipped[column].to_dict(), nan_ok=True), column
    assert (tmp_path / "loss_epoch.png").is_file() and outputs.markdown.is_file()
    assert redrawn.loc["sgd", "verdict"] == shipped.loc["sgd", "verdict"]


def test_against_tunes_only_yours_and_pairs_it_with_every_published_optimizer(published: Path,
                                                                             tmp_path: Path) -> None:
    (tmp_path / "my_optim.py").write_text(docs_example("tools/your-optimizer.md", "my_optim.py"))
    out = tmp_path / "mine"
    result = run_tune(*MINE, f"against={published}", f"out={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in (out / "search").iterdir()} == {"signsgd"}  # no shipped optimizer rerun
    mine = json.loads((out / "report" / "protocol.json").read_text())
    assert mine["rules"] == read_records(published).protocol["rules"]  # the published rules, none typed
    summary = (out / "report" / "against" / "summary.md").read_text()
    assert "- tuned: signsgd ranks " in summary and " of 3 by mean test accuracy" in summary
    assert "- default: signsgd ranks " in summary
    tuned = pd.read_csv(out / "report" / "against" / "tuned" / "summary.csv").set_index("optimizer")
    assert set(tuned.index) == {"sgd", "adam", "signsgd"} and tuned.loc["signsgd", "verdict"] == "reference"
    shipped = pd.read_csv(published / "tuned" / "summary.csv").set_index("optimizer")
    assert tuned.loc["adam", "test_acc"] == pytest.approx(shipped.loc["adam", "test_acc"])  # read, not rerun
    # The same machine and threads: the published reference's seed 1 comes out the same.
    assert "rerun here: test accuracy" in summary and "(+0.00 points; validation +0.00)" in summary, summary
    assert "exactly" in summary


def test_against_refuses_what_would_make_the_pairing_unfair(published: Path, tmp_path: Path) -> None:
    (tmp_path / "my_optim.py").write_text(docs_example("tools/your-optimizer.md", "my_optim.py"))
    cases = {
        ("trainer.max_epochs=3",): "this protocol is not the published one (training.trainer.max_epochs: 2 -> 3)",
        ("budget=5",): "this protocol is not the published one (rules.budget: 2 -> 5)",
    }
    for extra, message in cases.items():
        result = run_tune(*MINE, *extra, f"against={published}", f"out={tmp_path / 'x'}", cwd=tmp_path)
        assert result.returncode == 2, result.stderr[-3000:]
        assert_one_line(result.stderr, message)
    taken = run_tune("optimizer=sgd", f"against={published}", f"out={tmp_path / 'y'}", cwd=tmp_path)
    assert_one_line(taken.stderr, "sgd is already one of its optimizers")
    several = run_tune("optimizer=momentum,nesterov", f"against={published}", f"out={tmp_path / 'y'}", cwd=tmp_path)
    assert_one_line(several.stderr, "against= pairs one optimizer with the published ones")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y" / "search").exists()


@pytest.mark.parametrize("damage, message", [
    ("protocol.json", "protocol.json is missing: point at a protocol's report folder"),
    ("runs.csv", "runs.csv is missing: the protocol's records are incomplete"),
    ("curves.csv", "curves.csv cannot be read"),
])
def test_against_names_a_missing_or_corrupt_record(published: Path, tmp_path: Path, damage: str,
                                                    message: str) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("protocol.json", "runs.csv", "curves.csv"):
        (copy / name).write_bytes((published / name).read_bytes())
    if "missing" in message:
        (copy / damage).unlink()
    else:
        (copy / damage).write_bytes(b"\x00\x01garbage\n\"unclosed")
    (tmp_path / "my_optim.py").write_text(docs_example("tools/your-optimizer.md", "my_optim.py"))
    result = run_tune(*MINE, f"against={copy}", f"out={tmp_path / 'mine'}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert_one_line(result.stderr, message)


def test_where_a_public_data_set_lies_is_not_the_protocols_identity_but_your_image_folder_is(tmp_path: Path) -> None:
    """A user's Fashion-MNIST in another folder pairs with the published protocol (the docs' against= command gives
    no data.root); two image folders are two data sets."""
    from optlab.tune.identity import protocol_identity
    from optlab.tune.settings import parse_settings

    def training(*overrides: str) -> dict:
        settings = parse_settings(["optimizer=sgd", f"out={tmp_path}", *overrides])
        return protocol_identity(settings)["training"]

    fashion = ["data=fashion_mnist", "model=mnist_net"]
    assert training(*fashion, "data.root=/usr/share/datasets/fashion-mnist") == training(*fashion, "data.root=data")
    assert training("data=image_folder", "data.root=mine") != training("data=image_folder", "data.root=theirs")


def test_packages_of_another_release_are_refused_with_what_to_install_and_a_build_tag_is_not(
        published: Path, tmp_path: Path) -> None:
    """torch 2.14.1+cpu and 2.14.1+cu130 are one release (what a build moves, the reproduction line measures);
    another release is refused in one line that says which version to install, not which override to drop."""
    import torch

    from optlab.tune.identity import check_against
    from optlab.tune.settings import TuneError, parse_settings

    release = torch.__version__.split("+", 1)[0]
    for version, refused in ((f"{release}+someotherbuild", False), ("1.0.0", True)):
        copy = tmp_path / version
        copy.mkdir()
        for name in ("runs.csv", "curves.csv"):
            (copy / name).write_bytes((published / name).read_bytes())
        protocol = json.loads((published / "protocol.json").read_text())
        protocol["versions"]["torch"] = version
        (copy / "protocol.json").write_text(json.dumps(protocol))
        settings = parse_settings([*MINE, f"against={copy}", f"out={tmp_path / 'out'}"])
        if not refused:
            check_against(settings)
            continue
        with pytest.raises(TuneError, match=r"other package versions \(versions\.torch: 1\.0\.0 -> .*\); install "
                                            r"those to pair with it \(pip install torch==1\.0\.0\)"):
            check_against(settings)


def test_the_data_are_fetched_once_before_any_worker_starts_and_a_failure_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optlab.data.sources import DataError, IDXSource
    from optlab.tune.protocol import prepare_data
    from optlab.tune.settings import TuneError, parse_settings

    fetched: list[str] = []
    monkeypatch.setattr(IDXSource, "prepare", lambda source: fetched.append(str(source.root)))
    settings = parse_settings(["optimizer=sgd,adam", "data=fashion_mnist", f"data.root={tmp_path}",
                               f"out={tmp_path / 'out'}"])
    prepare_data(settings)
    assert fetched == [str(tmp_path)]

    def offline(source: IDXSource) -> None:
        raise DataError("Fashion-MNIST could not be downloaded: no network")

    monkeypatch.setattr(IDXSource, "prepare", offline)
    with pytest.raises(TuneError, match="^data=fashion_mnist: Fashion-MNIST could not be downloaded: no network$"):
        prepare_data(settings)
