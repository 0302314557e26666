"""Print the README's results table from a published tuning report, so that every number in it is one of the CSVs'.

    python scripts/readme_table.py docs/results/tuning_v3

One row per tuned optimizer, in the order of its tuned rank: the default and tuned lr, the tuned test accuracy with
its 95% t-interval over the rerun seeds (tuning.csv), the paired difference in test accuracy from the reference with
the interval at the level Holm's correction tested it and Holm's p (tuned/summary.csv; bold where separated, as the
comparison figure fills it), and the rank at the default and tuned. tests/test_published_tables.py holds the README
to it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from optlab.report.statistics import ALPHA


def _points(value: float) -> str:
    return f"{value * 100:+.2f}".replace("-", "−")


def _lr(value: float) -> str:
    return f"{value:.2g}"


def _p(value: float) -> str:
    return f"{value:.2g}" if value < 0.1 else f"{value:.2f}".rstrip("0").rstrip(".")


def _rank(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:g}"


def _versus(row: pd.Series) -> str:
    if row["verdict"] == "reference":
        return "reference"
    cell = f"{_points(row['diff'])} [{_points(row['diff_holm_low'])}, {_points(row['diff_holm_high'])}]"
    return f"**{cell}** ({_p(row['p_holm'])})" if row["p_holm"] < ALPHA else f"{cell} ({_p(row['p_holm'])})"


def table(report: Path) -> str:
    tuning = pd.read_csv(report / "tuning.csv").set_index("optimizer")
    tuned = pd.read_csv(report / "tuned" / "summary.csv").set_index("group")
    reference = tuned["reference"].iloc[0]
    rows = tuning[tuning["rank_tuned"].notna()].sort_index().sort_values("rank_tuned", kind="stable")
    lines = [f"| optimizer | default lr | tuned lr | tuned test % | vs {reference}, points (p Holm) | "
             "rank default → tuned |", "|---|---|---|---|---|---|"]
    for name, row in rows.iterrows():
        low, mean, high = (row[f"tuned_test_{part}"] * 100 for part in ("low", "acc", "high"))
        test = f"{mean:.2f} [{low:.2f}, {high:.2f}]"
        ranks = f"{_rank(row['rank_default'])} → {_rank(row['rank_tuned'])}"
        lines.append(f"| {name} | {_lr(row['default_lr'])} | {_lr(row['tuned_lr'])} | {test} | "
                     f"{_versus(tuned.loc[name])} | {ranks} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a published tuning report folder (tuning.csv, tuned/summary.csv)")
    print(table(parser.parse_args().report))


if __name__ == "__main__":
    main()
