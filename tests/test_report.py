"""A report from tiny real runs: groups by what varies, numbers that are the runs' numbers, CIs and paired tests,
time to a fixed target, every status shown; and the pieces (statistics, run names) on their own."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, compose_config, read_summary
from scipy import stats

from optlab.config.run_identity import group_label, run_name, swept_keys, varying_keys
from optlab.report.runs import Run, load_runs
from optlab.report.statistics import NOT_SEPARATED, holm, mean_ci, paired_comparison, verdict
from optlab.report.table import time_to_target
from optlab.report.write import ReportOptions, write_report
from optlab.run.job import train
from optlab.run.summary import RunSummary, Status

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {"comparison.png", "ranking.png", "loss_epoch.png", "convergence.png", "loss_time.png", "cost.png",
           "layer_drift.png", "dynamics.png"}


def run_job(root: Path, folder: str, *overrides: str) -> None:
    """One tiny job, as a sweep would run it (its overrides recorded as the command line's)."""
    train(compose_config([*TINY, "trainer.max_epochs=3", "data=digits", *overrides], root / folder))


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two folders, as if from two sweeps: sgd and adam x 3 seeds, one diverged sgd, one skipped sparseadam."""
    root = tmp_path_factory.mktemp("runs")
    for seed in (1, 2, 3):
        run_job(root, f"sweep_a/sgd_{seed}", "optimizer=sgd", f"seed={seed}")
        run_job(root, f"sweep_{'ab'[seed % 2]}/adam_{seed}", "optimizer=adam", f"seed={seed}")
    run_job(root, "sweep_b/sgd_huge_lr", "optimizer=sgd", "seed=4", "optimizer.lr=1000000")
    run_job(root, "sweep_b/sparseadam", "optimizer=sparseadam")
    return root


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`-m optimizer=adam optimizer.lr=0.0001,0.1 seed=1,2`, job by job."""
    root = tmp_path_factory.mktemp("lr")
    for index, (lr, seed) in enumerate([(lr, seed) for lr in ("0.0001", "0.1") for seed in (1, 2)]):
        run_job(root, f"{index}", "optimizer=adam", f"optimizer.lr={lr}", f"seed={seed}")
    return root


def test_a_report_written_again_leaves_no_figure_that_no_longer_applies(runs_root: Path, tmp_path: Path) -> None:
    write_report([runs_root / "sweep_a", runs_root / "sweep_b"], tmp_path, ReportOptions())
    assert (tmp_path / "comparison.png").is_file()
    sgd_only = write_report([runs_root / "sweep_a" / f"sgd_{seed}" for seed in (1, 2, 3)], tmp_path, ReportOptions())
    drawn = {figure.name for figure in sgd_only.figures}
    assert "comparison.png" not in drawn  # one group: nothing to compare it with
    assert {figure.name for figure in tmp_path.glob("*.png")} == drawn
    diverged_only = write_report([runs_root / "sweep_b" / "sgd_huge_lr"], tmp_path, ReportOptions())
    assert diverged_only.figures == [] and list(tmp_path.glob("*.png")) == []  # nothing finished: nothing drawn


def test_report_writes_png_figures_and_tables(runs_root: Path, tmp_path: Path) -> None:
    outputs = write_report([runs_root / "sweep_a", runs_root / "sweep_b"], tmp_path, ReportOptions())
    assert {f.name for f in outputs.figures} == FIGURES
    for figure in outputs.figures:
        assert figure.read_bytes().startswith(PNG) and figure.stat().st_size > 10_000
    assert outputs.table.is_file() and outputs.markdown.read_text().startswith("# digits, cifar_net, 3 epochs")


def test_groups_are_optimizers_when_only_the_optimizer_varies(runs_root: Path, tmp_path: Path) -> None:
    table = pd.read_csv(write_report([runs_root], tmp_path, ReportOptions()).table)
    # sgd's huge-lr run overrides optimizer.lr: that key varies, so it is a group of its own.
    assert sorted(table["group"]) == ["adam lr=0.001", "sgd lr=0.01", "sgd lr=1000000", "sparseadam lr=0.001"]
    only_seeds = pd.read_csv(write_report([runs_root / "sweep_a"], tmp_path / "a", ReportOptions()).table)
    assert sorted(only_seeds["group"]) == ["adam", "sgd"]


def test_lr_sweep_reports_one_row_per_lr(lr_sweep: Path, tmp_path: Path) -> None:
    table = pd.read_csv(write_report([lr_sweep], tmp_path, ReportOptions()).table).set_index("group")
    assert sorted(table.index) == ["adam lr=0.0001", "adam lr=0.1"]
    assert (table["runs"] == 2).all()


def test_group_by_names_config_keys(lr_sweep: Path, tmp_path: Path) -> None:
    pooled = pd.read_csv(write_report([lr_sweep], tmp_path, ReportOptions(group_by=["optimizer"])).table)
    assert pooled["group"].tolist() == ["adam"] and pooled["runs"].tolist() == [4]
    options = ReportOptions(group_by=["optimizer.lr", "seed"])
    by_seed = pd.read_csv(write_report([lr_sweep], tmp_path / "s", options).table)
    assert sorted(by_seed["group"]) == ["lr=0.0001 seed=1", "lr=0.0001 seed=2", "lr=0.1 seed=1", "lr=0.1 seed=2"]


def test_table_numbers_are_the_runs_numbers_with_cis_and_paired_tests(runs_root: Path, tmp_path: Path) -> None:
    table = pd.read_csv(write_report([runs_root / "sweep_a", runs_root / "sweep_b"], tmp_path,
                                     ReportOptions(group_by=["optimizer"], reference="adam")).table).set_index("group")
    adam = {s: read_summary(runs_root / f"sweep_{'ab'[s % 2]}" / f"adam_{s}") for s in (1, 2, 3)}
    sgd = {s: read_summary(runs_root / "sweep_a" / f"sgd_{s}") for s in (1, 2, 3)}
    values = [adam[s]["test_acc"] for s in (1, 2, 3)]
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    assert table.loc["adam", "test_acc"] == pytest.approx(np.mean(values))
    assert table.loc["adam", "test_acc_low"] == pytest.approx(np.mean(values) - half)
    assert table.loc["adam", "status"] == "3 ok" and table.loc["adam", "verdict"] == "reference"
    # sgd (3 ok + 1 diverged) against adam, paired by seed 1-3 (the diverged seed 4 has no partner).
    differences = [sgd[s]["test_acc"] - adam[s]["test_acc"] for s in (1, 2, 3)]
    assert table.loc["sgd", "diff"] == pytest.approx(np.mean(differences))
    expected_p = stats.ttest_rel([sgd[s]["test_acc"] for s in (1, 2, 3)],
                                 [adam[s]["test_acc"] for s in (1, 2, 3)]).pvalue
    assert table.loc["sgd", "p"] == pytest.approx(expected_p)
    assert table.loc["sgd", "p_holm"] == pytest.approx(min(1.0, expected_p))  # the only finite test
    assert table.loc["sgd", "verdict"] == ("lower" if expected_p < 0.05 else NOT_SEPARATED)
    assert table.loc["sgd", "status"] == "1 diverged, 3 ok"


def test_observations_name_the_best_group_only_when_it_is_the_reference(runs_root: Path, tmp_path: Path) -> None:
    sweeps = [runs_root / "sweep_a", runs_root / "sweep_b"]
    best_first = write_report(sweeps, tmp_path / "best", ReportOptions(group_by=["optimizer"]))
    table = pd.read_csv(best_first.table)
    best = table.sort_values("val_acc", ascending=False)["group"].iloc[0]
    other = next(g for g in table.dropna(subset=["val_acc"])["group"] if g != best)
    assert f"- Highest mean validation accuracy: {best} (" in best_first.markdown.read_text()
    chosen = write_report(sweeps, tmp_path / "chosen", ReportOptions(group_by=["optimizer"], reference=other))
    text = chosen.markdown.read_text()
    assert "Highest mean validation accuracy:" not in text
    assert f"- Reference, as chosen (highest mean validation accuracy: {table['val_acc'].max():.2%}, not this " \
           f"group): {other} (" in text


def test_diverged_and_skipped_runs_show_their_status_and_reason(runs_root: Path, tmp_path: Path) -> None:
    outputs = write_report([runs_root], tmp_path, ReportOptions(group_by=["optimizer"]))
    markdown = outputs.markdown.read_text()
    assert "sgd: 1 diverged, 3 ok — training loss" in markdown
    assert "sparseadam: 1 skipped — SparseAdam does not support dense gradients" in markdown
    # A skipped run trained nothing: no time to target, rather than "never" reached.
    sparseadam = next(line for line in markdown.splitlines() if line.startswith("| sparseadam |"))
    assert "never" not in sparseadam, sparseadam
    assert not any("never reached" in line and "sparseadam" in line for line in markdown.splitlines())


def test_observations_say_not_separated_when_tests_do_not_separate() -> None:
    """Two seeds whose paired differences disagree (-40 and -10 points): one degree of freedom, p = 0.34, so the
    groups are not separated and the observations say so, not "below". (The tiny lr sweep's own p, 0.052, lay too
    close to 5% to decide which sentence a machine writes.)"""
    from optlab.report.observations import write_observations
    from optlab.report.table import summarise

    def run(lr: float, seed: int, accuracy: float) -> Run:
        summary = RunSummary("adam", "digits", "cifar_net", "none", "32-true", seed, lr, status="ok",
                             val_acc=accuracy, test_acc=accuracy)
        return Run(Path(f"/runs/{lr}/{seed}"), summary, curves([accuracy], [1.0]))

    table = summarise({"adam lr=0.0001": [run(1e-4, 1, 0.5), run(1e-4, 2, 0.6)],
                       "adam lr=0.1": [run(0.1, 1, 0.1), run(0.1, 2, 0.5)]}, None, "val_acc", None)
    row = table.set_index("group").loc["adam lr=0.1"]
    assert row["p_holm"] == pytest.approx(stats.ttest_rel([0.1, 0.5], [0.5, 0.6]).pvalue) and row["p_holm"] > 0.3
    assert row["verdict"] == NOT_SEPARATED
    observations = "\n".join(write_observations(table, {}))
    assert ("Not separated from adam lr=0.0001 at 2 seeds (no evidence of a difference, nor of equality): "
            "adam lr=0.1.") in observations
    assert "Below" not in observations and "ndistinguishable" not in observations


def curves(val_acc: list[float], positions: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame({"val_acc": val_acc, "val_elapsed_s": [10.0 * p for p in positions]}, index=positions)
    return frame.reindex(columns=["train_loss", "elapsed_s", "val_loss", "val_acc", "val_elapsed_s"])


def fake_run(status: str, val_acc: list[float], seed: int = 1) -> Run:
    summary = RunSummary("adam", "digits", "cifar_net", "none", "32-true", seed, 0.001, status=status, target_acc=0.5)
    return Run(Path(f"/runs/{seed}"), summary, curves(val_acc, [0.5 * (i + 1) for i in range(len(val_acc))]))


def test_time_to_target_is_the_first_validation_at_target_and_a_miss_is_never() -> None:
    assert time_to_target(fake_run("ok", [0.2, 0.6, 0.4]), 0.5) == (1.0, 10.0)
    assert time_to_target(fake_run("ok", [0.2, 0.3]), 0.5) == (math.inf, math.inf)
    assert time_to_target(fake_run("diverged", [0.9]), 0.5) == (math.inf, math.inf)
    assert math.isnan(time_to_target(fake_run("ok", [0.9]), None)[0])


def test_median_time_to_target_counts_misses(tmp_path: Path) -> None:
    """Seeds reaching the target at 1.0, 1.5 epochs and never: the median is 1.5 epochs, 2 of 3 reached it."""
    from optlab.report.table import summarise

    runs = [fake_run("ok", [0.2, 0.6], 1), fake_run("ok", [0.2, 0.3, 0.7], 2), fake_run("ok", [0.1, 0.2], 3)]
    table = summarise({"adam": runs}, None, "val_acc", None)
    assert table.loc[0, "epochs_to_target"] == 1.5 and table.loc[0, "reached_target"] == 2
    misses = [fake_run("ok", [0.1], 2), fake_run("ok", [0.1], 3)]
    two_misses = summarise({"adam": runs[:1] + misses}, None, "val_acc", None)
    assert two_misses.loc[0, "epochs_to_target"] == math.inf


def test_no_finished_run_writes_no_figure_and_says_so(runs_root: Path, tmp_path: Path) -> None:
    outputs = write_report([runs_root / "sweep_b" / "sparseadam"], tmp_path, ReportOptions())
    assert outputs.figures == [] and not list(tmp_path.glob("*.png"))
    assert "No run finished: nothing to compare." in outputs.markdown.read_text()


def test_curves_come_from_tensorboard_events(runs_root: Path) -> None:
    run = next(r for r in load_runs([runs_root / "sweep_a" / "sgd_1"]))
    assert run.curves["val_acc"].dropna().index.tolist() == [1.0, 2.0, 3.0]
    assert run.curves["val_loss"].dropna().iloc[-1] == pytest.approx(run.summary.val_loss)
    assert run.curves["val_elapsed_s"].dropna().is_monotonic_increasing


def test_final_validation_after_the_last_timed_one_has_a_time(tmp_path: Path) -> None:
    """At val_check_interval=0.5 on 19 batches Lightning's last validation comes a batch before the end, and
    optlab validates the final weights after fit: that validation takes the epoch's end as its time, so loss
    against time draws every validation and time to target can be read from it."""
    for seed in (1, 2):
        run_job(tmp_path / "runs", f"{seed}", "optimizer=adam", f"seed={seed}", "trainer.val_check_interval=0.5")
    runs = load_runs([tmp_path / "runs"])
    for run in runs:
        validations = run.curves.dropna(subset=["val_loss"])
        assert validations.index[-1] == 3.0 and validations.index[-2] == pytest.approx(2 + 18 / 19, abs=1e-5)
        assert validations["val_elapsed_s"].notna().all() and validations["val_elapsed_s"].is_monotonic_increasing
        assert validations.loc[3.0, "val_elapsed_s"] == run.curves.loc[3.0, "elapsed_s"]
    outputs = write_report([tmp_path / "runs"], tmp_path / "report", ReportOptions())
    assert {f.name for f in outputs.figures} == FIGURES - {"comparison.png"}  # one group: nothing to compare


def test_loss_against_time_pairs_loss_and_seconds_by_position(tmp_path: Path, monkeypatch) -> None:
    """A run written before validations were timed has a mid-epoch validation with no time at all: loss against
    time draws the validations that have both, each loss at its own second."""
    from optlab.report import figures

    frame = pd.DataFrame({"elapsed_s": [math.nan, 10.0], "val_loss": [2.0, 1.0], "val_elapsed_s": [math.nan, 10.0]},
                         index=[0.5, 1.0]).reindex(columns=["train_loss", "elapsed_s", "val_loss", "val_acc",
                                                            "val_elapsed_s"])
    run = Run(Path("/runs/1"), fake_run("ok", [0.5]).summary, frame)
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path: drawn.append(fig) or path)
    figures.loss_by_time({"adam": [run]}, {"adam": ("C0", "-")}, ["adam"], "old run", tmp_path / "t.png")
    (line,) = drawn[0].axes[0].get_lines()
    assert line.get_xdata().tolist() == [10.0] and line.get_ydata().tolist() == [1.0]


def test_command_line_prints_the_report_and_table(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "optlab.report", str(runs_root), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'summary.md'}" in result.stdout and f"table: {out / 'summary.csv'}" in result.stdout
    # What it wrote is the report of these runs: the library's, from the same folder, word for word.
    library = write_report([runs_root], tmp_path / "library", ReportOptions())
    assert (out / "summary.csv").read_text() == library.table.read_text()
    assert (out / "summary.md").read_text() == library.markdown.read_text()
    table = pd.read_csv(out / "summary.csv").set_index("group")
    assert table.loc["sgd lr=1000000", "status"] == "1 diverged" and table.loc["adam lr=0.001", "status"] == "3 ok"


@pytest.mark.parametrize("args, message", [
    (["--group-by", "colour"], "cannot group by ['colour']"),
    (["--target-acc", "5"], "target accuracy 5.0 must be a fraction in (0, 1]"),
    (["--reference", "nothing"], "reference group 'nothing' is not among the groups"),
    ([], "no summary.json under"),
])
def test_command_line_errors_are_one_line(tmp_path: Path, runs_root: Path, args: list[str], message: str) -> None:
    target = runs_root if args else tmp_path
    result = subprocess.run([sys.executable, "-m", "optlab.report", str(target), "--out", str(tmp_path / "o"), *args],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_holm_matches_a_worked_example() -> None:
    # Four p-values: sorted 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1 = 0.04, 0.06, 0.06 (monotone), 0.06.
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, math.nan]) == [0.5, pytest.approx(math.nan, nan_ok=True)]


def test_mean_ci_and_paired_comparison() -> None:
    interval = mean_ci([1.0, 2.0, 3.0], within=(-math.inf, math.inf))
    assert interval.mean == 2.0 and interval.half_width == pytest.approx(stats.t.ppf(0.975, 2) * 1 / math.sqrt(3))
    assert math.isnan(mean_ci([1.0]).low)
    # Seeds differ a lot, the pairs barely: paired, the 0.1 shift is clear.
    group, reference = {1: 0.5, 2: 0.71, 3: 0.9}, {1: 0.4, 2: 0.6, 3: 0.8}
    comparison = paired_comparison(group, reference)
    assert comparison.difference.mean == pytest.approx(0.1033, abs=1e-3) and comparison.p_value < 0.01
    assert stats.ttest_ind(list(group.values()), list(reference.values())).pvalue > 0.3


def test_intervals_stay_inside_what_an_accuracy_can_take() -> None:
    """A group that diverged on one seed of three: the t-interval (-41% to +167%) is cut to [0, 100%]; a difference
    from a reference at 90% to [-90%, +10%]; with two seeds no interval at all (the t quantile is 12.7)."""
    spread = mean_ci([0.1, 0.95, 0.97])
    assert spread.low == 0.0 and spread.high == 1.0 and spread.mean == pytest.approx(0.6733, abs=1e-4)
    tight = mean_ci([0.90, 0.91, 0.92])
    assert 0.88 < tight.low < 0.90 and 0.92 < tight.high < 0.94  # far from the bounds: the plain t-interval
    two = mean_ci([0.90, 0.92])
    assert two.mean == pytest.approx(0.91) and math.isnan(two.low) and math.isnan(two.high) and two.n == 2
    difference = paired_comparison({1: 0.1, 2: 0.95, 3: 0.97}, {1: 0.9, 2: 0.9, 3: 0.9}).difference
    assert difference.low == pytest.approx(-0.9) and difference.high == pytest.approx(0.1)
    assert difference.mean == pytest.approx(-0.2267, abs=1e-4)


def test_run_names_carry_the_swept_values() -> None:
    overrides = ["optimizer=adam", "optimizer.lr=0.1", "seed=2", "data=digits", "trainer.max_epochs=10"]
    assert run_name("adam", overrides, 2, ["optimizer", "optimizer.lr", "seed"]) == "adam_lr0.1_seed2"
    assert run_name("adam", overrides, 2, None) == "adam_lr0.1_digits_max-epochs10_seed2"
    assert run_name("textbook/adam", ["scheduler=cosine"], 1, ["scheduler"]) == "textbook-adam_cosine_seed1"
    assert swept_keys(["optimizer=adam", "optimizer.lr=0.0001,0.1", "data=digits"], {"seed": "1,2,3"}) == \
        ["optimizer.lr", "seed"]
    assert swept_keys(["optimizer=glob(*)"], {}) == ["optimizer"]


def test_varying_keys_ignore_seeds_and_paths() -> None:
    identities = [{"optimizer": "adam", "seed": s, "data.root": r, "optimizer.lr": 0.1}
                  for s, r in ((1, "a"), (2, "b"))]
    assert varying_keys(identities) == []
    identities[1]["optimizer.lr"] = 0.2
    assert varying_keys(identities) == ["optimizer.lr"]


def test_group_labels_name_only_the_keys_a_group_has() -> None:
    """A zoo optimizer's name tells zoo groups apart; the built-in groups have no such key and no `name=None`."""
    keys = ["optimizer", "optimizer.name"]
    assert group_label({"optimizer": "zoo/any", "optimizer.name": "prodigy"}, keys) == "zoo/any name=prodigy"
    assert group_label({"optimizer": "adam", "optimizer.name": None}, keys) == "adam"


def forest_table(diffs: dict[str, float], seeds: str = "1,2,3") -> pd.DataFrame:
    """A report table as summarise writes it: the reference at 90%, every other group at its paired difference
    with an interval at Holm's level of +-0.5 points, separated when more than a point away."""
    rows = [{"group": "ref", "optimizer": "ref", "verdict": "reference", "diff": 0.0, "diff_holm_low": math.nan,
             "diff_holm_high": math.nan, "diff_holm_level": math.nan, "compared_on": "test_acc", "test_acc": 0.9,
             "seeds": seeds}]
    for name, diff in diffs.items():
        rows.append({"group": name, "optimizer": name, "diff": diff, "diff_holm_low": diff - 0.005,
                     "diff_holm_high": diff + 0.005, "diff_holm_level": 0.99,
                     "verdict": "lower" if diff < -0.01 else NOT_SEPARATED,
                     "compared_on": "test_acc", "test_acc": 0.9 + diff, "seeds": seeds})
    return pd.DataFrame(rows)


def test_the_comparison_figure_is_not_squeezed_by_one_far_group(tmp_path: Path, monkeypatch) -> None:
    """17 groups within 3 points of the reference and L-BFGS 60 points below: the axis spans the 17 (and zero);
    L-BFGS is an arrow at the left edge with its value written; separated groups are filled, the others hollow."""
    from optlab.report import figures, forest

    diffs = {f"opt{i:02d}": -0.002 * i for i in range(16)} | {"lbfgs": -0.60}
    table = forest_table(diffs)
    low, high = forest.axis_limits(table[table["verdict"] != "reference"])
    assert -4.0 < low < -3.5 and 0.5 < high < 1.0  # the intervals of opt15 (-3.5) and opt00 (+0.5), a margin
    drawn = []
    monkeypatch.setattr(forest, "save", lambda fig, path: drawn.append(fig) or path)
    styles = figures.group_styles(table)
    forest.forest(table, styles, "t", tmp_path / "c.png")
    ax = drawn[0].axes[0]
    assert [t.get_text() for t in ax.texts] == ["-60.0 pp"]
    assert [label.get_text() for label in ax.get_yticklabels()][0] == "lbfgs"  # sorted: lowest at the bottom
    points = [line for line in ax.get_lines() if line.get_marker() == "o" and len(line.get_xdata()) == 1
              and line.get_label().startswith("_")]
    filled = {round(float(p.get_xdata()[0]), 1) for p in points if p.get_markerfacecolor() != "white"}
    assert filled == {round(-0.2 * i, 1) for i in range(6, 16)}  # the ten more than a point below
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["separated (Holm p < 0.05)", "not separated (Holm p ≥ 0.05)"]  # none untested: no entry
    assert "intervals at Holm's levels (99.0%) over 3 paired seeds; one excludes 0 exactly when filled" \
        in ax.get_xlabel()


def test_the_comparison_figure_says_when_there_are_no_intervals(tmp_path: Path, monkeypatch) -> None:
    from optlab.report import figures, forest

    table = forest_table({"adam": -0.01, "sgd": 0.02}, seeds="1,2").assign(diff_holm_low=math.nan,
                                                                            diff_holm_high=math.nan)
    drawn = []
    monkeypatch.setattr(forest, "save", lambda fig, path: drawn.append(fig) or path)
    forest.forest(table, figures.group_styles(table), "t", tmp_path / "c.png")
    assert "no intervals: fewer than 3 seeds" in drawn[0].axes[0].get_xlabel()


def test_the_comparison_legend_names_the_kinds_drawn() -> None:
    from optlab.report.forest import legend_handles

    verdicts = pd.Series(["lower", "untested (the same difference on all 2 paired seeds)"])
    assert [h.get_label() for h in legend_handles(verdicts)] == ["separated (Holm p < 0.05)",
                                                                 "untested (see the table)"]


def test_an_untested_group_says_why() -> None:
    """Two seeds with the same difference (accuracy moves in steps of 1/297 on digits) leave a t-test nothing to
    work with: that, not "fewer than two seeds", is what the verdict and the observations say."""
    from optlab.report.observations import write_observations

    assert verdict(-0.044, math.nan, 2) == "untested (the same difference on all 2 paired seeds)"
    assert verdict(-0.044, math.nan, 1) == "untested (1 paired seed)"
    table = forest_table({"rprop": -0.044, "adam": -0.01}, seeds="1,2").assign(
        verdict=["reference", "untested (the same difference on all 2 paired seeds)", NOT_SEPARATED],
        val_acc=[0.97, 0.93, 0.96], test_acc_low=math.nan, test_acc_high=math.nan, reference="ref",
        reference_ties="", holm_tests=1, holm_family="this report", epochs_to_target=math.nan, status="2 ok",
        evaluations_per_step=1.0, epoch_time_s=math.nan, optimizer_state_bytes=math.nan)
    lines = write_observations(table, {})
    assert "Not tested against ref: rprop (the same difference on all 2 paired seeds)." in lines


def synthetic_run(group: str, seed: int, test_acc: float, val_acc: float, val_loss: float = 0.3) -> Run:
    """A finished run with no curves: all the table and its comparisons read."""
    summary = RunSummary(group, "digits", "cifar_net", "none", "32-true", seed, 0.001, status=Status.OK,
                         val_acc=val_acc, test_acc=test_acc, val_loss=val_loss, choices={"optimizer": group})
    return Run(Path(f"/runs/{group}/{seed}"), summary, curves([], []))


def tied_groups(muon_loss: float, lion_loss: float) -> dict[str, list[Run]]:
    """Muon and Lion 1.2e-8 apart in mean validation accuracy (tuning_v2's float tie), Adam a point below."""
    tests = {1: 0.89, 2: 0.90, 3: 0.88}
    return {"muon": [synthetic_run("muon", s, t, 0.8928000092506408, muon_loss) for s, t in tests.items()],
            "lion": [synthetic_run("lion", s, t + 0.001, 0.8927999973297119, lion_loss) for s, t in tests.items()],
            "adam": [synthetic_run("adam", s, t - 0.01, 0.8828, 0.35) for s, t in tests.items()]}


@pytest.mark.parametrize("muon_loss, lion_loss, reference", [
    (0.3410, 0.3455, "muon"),  # the lower validation loss breaks the tie
    (0.3455, 0.3410, "lion"),  # even against Muon's (float) higher mean
    (0.3410, 0.3410, "lion"),  # equal losses: the name, alphabetically
])
def test_a_float_tie_for_the_reference_is_said_and_broken_by_the_documented_rule(
        muon_loss: float, lion_loss: float, reference: str) -> None:
    from optlab.report.observations import write_observations
    from optlab.report.table import summarise

    table = summarise(tied_groups(muon_loss, lion_loss), None, "val_acc", None)
    other = "lion" if reference == "muon" else "muon"
    assert (table["reference"] == reference).all() and (table["reference_ties"] == other).all()
    first = write_observations(table, {})[0]
    assert first.startswith(f"Tied within 1e-06 for the highest mean validation accuracy with {other} (broken by the "
                            "lower mean validation loss, then the name; validation loss ")
    assert f"): {reference} (89.28%)" in first and "Highest" not in first


def test_a_named_reference_in_a_tie_is_not_said_to_be_chosen_by_the_rule() -> None:
    from optlab.report.observations import write_observations
    from optlab.report.table import summarise

    table = summarise(tied_groups(0.3455, 0.3410), None, "val_acc", "muon")
    first = write_observations(table, {})[0]
    assert first.startswith("Tied within 1e-06 for the highest mean validation accuracy with lion (the reference as "
                            "chosen, not by the tie rule;")


def test_no_tie_beyond_the_tolerance() -> None:
    from optlab.report.observations import write_observations
    from optlab.report.table import summarise

    groups = tied_groups(0.3455, 0.3410)
    groups["lion"] = [synthetic_run("lion", r.summary.seed, r.summary.test_acc, 0.8928000092506408 - 2e-6)
                      for r in groups["lion"]]
    table = summarise(groups, None, "val_acc", None)
    assert (table["reference"] == "muon").all() and (table["reference_ties"] == "").all()
    assert write_observations(table, {})[0].startswith("Highest mean validation accuracy: muon (89.28%)")
