"""The tables the README and the results pages quote are their published CSVs' own: printed from them by a script,
never typed, so a number that drifts from its CSV fails here."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest

from optlab.report.records import read_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PUBLISHED = RESULTS / "tuning_v3"


def script(name: str) -> dict:
    return runpy.run_path(str(ROOT / "scripts" / name))


def test_the_readme_table_is_the_published_protocols() -> None:
    table = script("readme_table.py")["table"](PUBLISHED)
    assert table in (ROOT / "README.md").read_text(), \
        "README.md's results table differs from its CSVs: paste python scripts/readme_table.py docs/results/tuning_v3"


def test_the_readme_table_bolds_exactly_the_separated_rows() -> None:
    import pandas as pd

    lines = script("readme_table.py")["table"](PUBLISHED).splitlines()[2:]
    tuned = pd.read_csv(PUBLISHED / "tuned" / "summary.csv").set_index("group")
    bold = {line.split(" | ")[0].strip("| ") for line in lines if "**" in line}
    assert bold == set(tuned.index[tuned["p_holm"] < 0.05])
    assert len(lines) == tuned["verdict"].ne("skipped").sum()


@pytest.mark.parametrize("first, second", [("tuning_v2", "tuning_v3"), ("tuning_v3", "tuning_v3_rerun")])
def test_the_results_page_quotes_each_comparison_of_two_protocols(first: str, second: str) -> None:
    comparison = script("compare_protocols.py")["markdown"](RESULTS / first, RESULTS / second)
    assert comparison in (RESULTS / "tuned-fashion-mnist.md").read_text(), \
        f"docs/results/tuned-fashion-mnist.md's comparison of {first} and {second} differs from their CSVs: paste " \
        f"python scripts/compare_protocols.py docs/results/{first} docs/results/{second}"


def test_a_protocol_compared_with_itself_moved_nothing() -> None:
    comparison = script("compare_protocols.py")["markdown"](RESULTS / "tuning_v2", RESULTS / "tuning_v2")
    assert "moved by more than 0.25 decade: 0 of 17" in comparison
    assert "Identical default test means (same config and seeds): 17 of 17" in comparison
    assert "same validation and test accuracy" not in comparison  # tune v2 shipped no per-run records


def test_runs_of_the_same_setting_are_compared_bit_for_bit_and_reused_ones_left_out(tmp_path: Path) -> None:
    import pandas as pd

    runs = pd.read_csv(PUBLISHED / "runs.csv")
    ok = runs[runs["status"] == "ok"]
    compare = script("compare_protocols.py")["same_runs"]
    itself = compare(PUBLISHED, PUBLISHED)
    assert itself["shared"].to_dict() == ok["stage"].value_counts().to_dict()
    assert (itself["same"] == itself["shared"]).all()
    other = tmp_path / "other"
    other.mkdir()
    changed = runs.copy()
    default, tuned = (ok.index[ok["stage"] == stage][0] for stage in ("default", "tuned"))
    changed.loc[default, "val_acc"] = math.nextafter(changed.loc[default, "val_acc"], 1.0)  # one bit off
    changed["reused_from"] = changed["reused_from"].astype(object)
    changed.loc[tuned, "reused_from"] = "elsewhere/tuned/seed1"  # another protocol's run: no repetition
    changed.loc[changed["stage"] == "selection", "test_acc"] = math.nan  # selection runs skip the test now
    changed.to_csv(other / "runs.csv", index=False, float_format="%.17g")
    table = compare(PUBLISHED, other)
    assert (table.loc["default", "shared"], table.loc["default", "same"]) == (itself.loc["default", "shared"],
                                                                              itself.loc["default", "shared"] - 1)
    assert (table.loc["tuned", "shared"], table.loc["tuned", "same"]) == (itself.loc["tuned", "shared"] - 1,) * 2
    assert table.loc["selection", "same"] == itself.loc["selection", "shared"]  # same where both were measured


def test_the_published_tuning_table_says_better_or_worse_only_where_holm_separates() -> None:
    """tuning.md's tuned − default verdicts are the Holm-corrected test's, row by row (tuning.csv): a report never
    says more than its test does."""
    import pandas as pd

    table = pd.read_csv(PUBLISHED / "tuning.csv").set_index("optimizer")
    lines = (PUBLISHED / "tuning.md").read_text().splitlines()
    for optimizer, row in table.iterrows():
        line = next(line for line in lines if line.startswith(f"| {optimizer} |"))
        said = [word for word in ("better", "worse", "not separated") if f": {word})" in line]
        if not math.isfinite(row["gain_p_holm"]):
            assert said == [], line
            continue
        expected = ("better" if row["gain"] > 0 else "worse") if row["gain_p_holm"] < 0.05 else "not separated"
        assert said == [expected], line


def floor_script() -> dict:
    return runpy.run_path(str(ROOT / "benchmarks" / "protocol_floor.py"))


def test_a_protocols_floor_keeps_top_k_finished_trials_and_cuts_the_rest_at_the_first_rung() -> None:
    import pandas as pd

    rows = [("search", "ok", math.nan, 100.0), ("search", "ok", math.nan, 120.0), ("search", "pruned", 0.33, 10.0),
            ("search", "pruned", 0.33, 20.0), ("search", "pruned", 0.99, 40.0),
            *[("selection", "ok", math.nan, 90.0)] * 3, *[("tuned", "ok", math.nan, 80.0)] * 2,
            *[("default", "ok", math.nan, 70.0)] * 2]
    runs = pd.DataFrame(rows, columns=["stage", "status", "pruned_at_epochs", "wall_s"])
    runs["optimizer"] = "sgd"
    floor = floor_script()  # one namespace: its FloorError is the one raised
    floors = floor["optimizer_floor"](runs, finished=2, candidates=2, budget=4, first_rung=1 / 3)
    # (measured, floor, floor with each finished search trial priced as a selection run)
    assert floors == {"search": (290.0, 2 * 110 + 2 * 15, 2 * 90 + 2 * 15), "selection": (270.0, 180.0, 180.0),
                      "tuned": (160.0, 160.0, 160.0), "default": (140.0, 140.0, 140.0)}
    extreme = floor["optimizer_floor"](runs, finished=1, candidates=2, budget=4, first_rung=1 / 3)
    assert extreme["search"] == (290.0, 110 + 3 * 15, 90 + 3 * 15) and extreme["selection"][1] == 180.0
    unpruned = runs[runs.pruned_at_epochs.isna()]  # pruner=none: nothing tells what a first-rung cut costs
    with pytest.raises(floor["FloorError"], match="sgd has no search trial cut at the first rung"):
        floor["optimizer_floor"](unpruned, finished=2, candidates=2, budget=4, first_rung=1 / 3)


@pytest.mark.parametrize("protocol", ["tuning_v3", "tuning_v3_rerun"])
def test_the_benchmarks_page_quotes_each_protocols_floor(protocol: str) -> None:
    floor = floor_script()
    records = read_records(RESULTS / protocol)
    text = floor["table"](floor["protocol_floor"](records), floor["protocol_floor"](records, 1), workers=2)
    assert text in (ROOT / "docs" / "benchmarks.md").read_text(), \
        f"docs/benchmarks.md's floor of {protocol} differs from its CSVs: paste " \
        f"python -m benchmarks.protocol_floor docs/results/{protocol}"
