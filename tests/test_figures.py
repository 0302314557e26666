"""The figures read without their captions: every curve named where it ends, a diverging line stated rather than
flattening the rest, the profile kind and the rank direction on the figure, the search score told apart from the
fresh-seed result, coincident trajectories told apart, the landscape's axes and settings named."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.ticker import NullFormatter

from optlab.landscape.__main__ import landscape_title
from optlab.landscape.figures import colour_bar_ticks
from optlab.report import across_tasks, figures
from optlab.report.runs import Run
from optlab.run.summary import RunSummary, Status
from optlab.trajectories.drawing import same_paths
from optlab.trajectories.functions import PlaneFunction
from optlab.trajectories.record import TrajectoryRecord
from optlab.tune.report import sensitivity_figure
from optlab.tune.report.trials import SearchResult, Trial

EPOCHS = np.arange(1.0, 6.0)


def fake_group(optimizer: str, train: list[float], val: list[float], overrides: list[str] | None = None) -> list[Run]:
    summary = RunSummary(optimizer, "fashion_mnist", "mnist_net", "none", "32-true", 1, 0.001, status=Status.OK,
                         epochs=5, overrides=overrides or [f"optimizer={optimizer}"])
    curves = pd.DataFrame({"train_loss": train, "val_loss": val, "val_acc": [0.5] * 5}, index=EPOCHS)
    return [Run(Path(f"/runs/{optimizer}"), summary, curves)]


def captured(monkeypatch: pytest.MonkeyPatch, module: object) -> list[plt.Figure]:
    """The figures `module` saves, kept open to be read."""
    kept: list[plt.Figure] = []
    monkeypatch.setattr(module, "save", lambda fig, path: kept.append(fig) or path)
    return kept


def names_at_line_ends(ax: plt.Axes) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_crowded_labels_keep_their_order_and_gap_and_stay_near_their_lines() -> None:
    assert figures.spread([0.2, 0.8], 0.1) == [0.2, 0.8]  # room for both: each exactly at its line
    assert figures.spread([0.1, 0.1, 0.1], 0.1) == pytest.approx([0.0, 0.1, 0.2])  # centred, held inside the axes
    assert figures.spread([0.5, 0.52], 0.1) == pytest.approx([0.46, 0.56])  # both moved half the overlap
    assert figures.spread([0.97, 0.98], 0.1) == pytest.approx([0.9, 1.0])


def test_families_fill_panels_of_a_few_lines_each_every_group_once() -> None:
    names = ["sgd", "momentum", "nesterov", "asgd", "adam", "adamw", "nadam", "radam", "adamax", "textbook/adam",
             "textbook/adamw", "adagrad", "rmsprop", "adadelta", "adafactor", "lion", "rprop", "muon", "lbfgs"]
    groups = {name: fake_group(name, [1.0] * 5, [1.0] * 5) for name in names}
    groups["zoo/any name=adabelief"] = fake_group("zoo/any", [1.0] * 5, [1.0] * 5)
    groups["zoo/any name=prodigy"] = fake_group("zoo/any", [1.0] * 5, [1.0] * 5)
    panels = figures.family_panels(groups, list(groups))
    assert sorted(label for _, labels in panels for label in labels) == sorted(groups)
    assert all(len(labels) <= figures.PANEL_LINES for _, labels in panels)
    titles = dict((label, title) for title, labels in panels for label in labels)
    assert titles["textbook/adam"].startswith("Adam family (") and titles["zoo/any name=adabelief"].startswith("Adam")
    assert titles["sgd"] == "SGD family" and titles["zoo/any name=prodigy"] == figures.OTHER


def test_every_loss_line_is_named_at_its_end_in_both_panels_and_a_diverging_one_is_stated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tuning_v2's shape: ends bunched near 0.3, one line from 0.7 up to 10, one flat near 1.4."""
    groups = {name: fake_group(name, list(0.6 - 0.06 * EPOCHS + 0.01 * i), list(0.7 - 0.06 * EPOCHS + 0.01 * i))
              for i, name in enumerate(("adam", "adamw", "nadam", "sgd", "lion", "muon"))}
    groups["rprop"] = fake_group("rprop", [0.75, 1.4, 1.7, 2.0, 4.0], [0.7, 1.1, 1.2, 3.8, 10.3])
    groups["lbfgs"] = fake_group("lbfgs", [1.6, 1.4, 1.3, 1.28, 1.27], [1.45, 1.35, 1.33, 1.34, 1.32])
    table = pd.DataFrame({"group": list(groups), "optimizer": list(groups)})
    kept = captured(monkeypatch, figures)
    figures.loss_by_epoch(groups, figures.group_styles(table), list(groups), "minmax", "t", tmp_path / "l.png")
    axes = [ax for ax in kept[0].axes if ax.get_visible()]
    named = sorted(name.split(" ↑")[0] for ax in axes for name in names_at_line_ends(ax))
    assert named == sorted(list(groups) * 2)  # every group, once in the training and once in the validation panel
    val_panel = next(ax for ax in axes if "rprop ↑10.3" in names_at_line_ends(ax))
    assert val_panel.get_ylim()[1] < 2  # the axis stops near the highest start, not at 10
    assert "rises beyond the axis" in kept[0].get_suptitle()
    for ax in axes:
        assert len(ax.get_lines()) <= figures.PANEL_LINES
        if ax.get_yscale() == "log":
            assert isinstance(ax.yaxis.get_minor_formatter(), NullFormatter)


def test_convergence_shows_training_loss_beside_validation_accuracy_in_percent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    groups = {"adam": fake_group("adam", [1.0] * 5, [1.0] * 5)}
    kept = captured(monkeypatch, figures)
    figures.convergence_by_epoch(groups, {"adam": ("C0", "-")}, ["adam"], "minmax", "t", tmp_path / "a.png")
    loss, accuracy = kept[0].axes[:2]
    assert (loss.get_ylabel(), accuracy.get_ylabel()) == ("training loss", "validation accuracy")
    assert accuracy.yaxis.get_major_formatter()(0.5, 0) == "50%" and names_at_line_ends(accuracy) == ["adam"]
    assert names_at_line_ends(loss) == ["adam"]


def test_an_accuracy_that_never_rose_leaves_the_axis_named_with_its_end(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """One optimizer stuck at 50% would squeeze the others' 85-90% into a sliver: it leaves the bottom of the axis,
    named there with where it ended, and the figure says what the arrow means."""
    groups = {name: fake_group(name, [1.0] * 5, [1.0] * 5) for name in ("adam", "lbfgs")}
    groups["adam"][0].curves["val_acc"] = [0.85, 0.87, 0.88, 0.89, 0.90]
    groups["lbfgs"][0].curves["val_acc"] = [0.50, 0.52, 0.53, 0.54, 0.546]
    kept = captured(monkeypatch, figures)
    styles = {"adam": ("C0", "-"), "lbfgs": ("C1", "-")}
    figures.convergence_by_epoch(groups, styles, ["adam", "lbfgs"], "minmax", "t", tmp_path / "c.png")
    accuracy = [ax for ax in kept[0].axes if ax.get_ylabel() == "validation accuracy"]
    bottom = min(ax.get_ylim()[0] for ax in accuracy)
    assert 0.8 < bottom < 0.85
    assert any("lbfgs ↓54.6%" in names_at_line_ends(ax) for ax in accuracy)
    assert "ends below the axis" in kept[0].get_suptitle()


def test_profiles_colour_the_best_grey_the_rest_and_say_which_profile(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    groups = [f"opt{i}" for i in range(10)]
    cost = pd.DataFrame([[0.1 + 0.01 * i * (t + 1) for i in range(10)] for t in range(3)], columns=groups,
                        index=["a", "b", "c"])
    kept = captured(monkeypatch, across_tasks)
    _, scores = across_tasks.draw_profiles({"test error": cost}, 3, tmp_path / "p.png")
    ax = kept[0].axes[0]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[:4] == [f"opt{i} (score {scores['test error'][f'opt{i}']:.2f})" for i in range(4)]
    assert legend[4] == "grey: the 6 others (table)" and len(scores) == 10
    assert "Dolan & Moré" in kept[0].get_suptitle() and "AlgoPerf" in kept[0].get_suptitle()


def test_the_rank_diagram_names_the_metric_and_that_rank_1_is_best(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = pd.DataFrame({"adam": [0.9, 0.8, 0.7, 0.95, 0.6], "sgd": [0.85, 0.75, 0.72, 0.9, 0.55],
                           "lion": [0.8, 0.7, 0.6, 0.85, 0.5]}, index=[f"task{i}" for i in range(5)])
    kept = captured(monkeypatch, across_tasks)
    across_tasks.draw_critical_difference(blocks, tmp_path / "cd.png", "test_acc")
    title = kept[0].axes[0].get_title()
    assert "Mean rank of test accuracy" in title and "rank 1 = best, the highest test accuracy" in title


def test_the_sensitivity_figure_tells_the_search_score_from_the_fresh_seed_result(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    """The chosen lr's star at its search-seed score (72%), a diamond at its fresh-seed mean (55.5%), said in the
    panel's title; widened trials drawn as squares; accuracies in %."""
    trials = [Trial(1e-3, Status.OK, 0.40, "", number=0), Trial(0.1, Status.OK, 0.72, "", number=1),
              Trial(0.3, Status.OK, 0.69, "", number=2, widened=True),
              Trial(0.6, Status.PRUNED, 0.0, "", number=3, val_acc=0.3, widened=True)]
    search = SearchResult("lbfgs", trials, (1e-3, 1.0), (1e-3, 0.1), 2, chosen_number=1)
    table = pd.DataFrame({"optimizer": ["lbfgs"], "default_lr": [1.0], "tuned_val_acc": [0.555],
                          "tuned_val_low": [0.50], "tuned_val_high": [0.61]})
    kept: list[plt.Figure] = []
    monkeypatch.setattr(sensitivity_figure.plt, "close", kept.append)
    sensitivity_figure.draw_sensitivity({"lbfgs": search}, table, {"lbfgs": "C0"}, tmp_path / "s.png")
    ax = kept[0].axes[0]
    def heights(marker: str) -> list[float]:
        return sorted(y for line in ax.get_lines() if line.get_marker() == marker for y in line.get_ydata())

    assert heights("*") == pytest.approx([72.0]) and heights("D") == pytest.approx([55.5])
    assert heights("s") == pytest.approx([30.0, 69.0])  # the widened trials, finished and pruned
    assert ax.get_title().endswith("chosen lr 0.1: 55.5% on fresh seeds") and ax.get_ylim()[1] == 100
    assert "learning rate" in kept[0].get_supxlabel()


def test_a_path_that_follows_another_is_named_as_such() -> None:
    box = PlaneFunction("quadratic", (-2.0, 1.5), (-2.5, 2.5), (-2.0, 2.0), (0.0, 0.0), False)
    path = [(-2.0, 1.5), (-1.0, 0.5), (0.0, 0.0)]
    records = [TrajectoryRecord(name, "quadratic", "ok", lr=0.1, points=points, values=[1.0] * 3)
               for name, points in (("asgd", path), ("sgd", [(x + 1e-6, y) for x, y in path]),
                                    ("adam", [(-2.0, 1.5), (-1.5, 1.0), (-1.0, 0.5)]))]
    assert same_paths(records, box) == {"sgd": "asgd"}


def test_the_landscape_title_says_one_seed_and_whether_the_runs_were_tuned() -> None:
    def runs(*overrides: str) -> list[Run]:
        return [Run(Path("/r"), RunSummary("adam", "fashion_mnist", "mnist_net", "none", "32-true", 1, None, epochs=5,
                                           overrides=["optimizer=adam", "seed=1", *overrides]), pd.DataFrame())]

    title = landscape_title(runs(), 1, 512)
    assert title == ("fashion_mnist, mnist_net, 5 epochs, seed 1, loss on 512 training images; untuned: each "
                     "optimizer at its config defaults")
    assert landscape_title(runs("optimizer.lr=0.01"), 1, 512).endswith("set on the command line: optimizer.lr")
    assert colour_bar_ticks(0.09, 60.0) == [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]
    assert colour_bar_ticks(1.1, 1.3) == [1.1, 1.3]  # no 1-2-5 value inside: the ends
