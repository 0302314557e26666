"""Draw the comparison figure (optlab.report.forest) of reports whose runs are no longer kept, from their tables.

    python scripts/redraw_comparison.py docs/results/tuning/tuned docs/results/tuning/default ...

The forest plot is a function of the report's summary.csv alone (each group's paired difference from the reference,
its interval and verdict), so a published report gets it without its runs: comparison.png beside summary.csv, and
a link to it first under the "Figures" of its summary.md. The report's other figures need the runs and stay as
they were drawn.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

from optlab.report.figures import group_styles
from optlab.report.forest import forest
from optlab.report.statistics import holm_confidence

LINK = "![comparison](comparison.png)"


def with_holm_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """A table written before the Holm-level intervals (issue 39) gets them from what it holds: each difference's
    unadjusted 95% t-interval gives its standard error (the wider side: the other may have been cut at what a
    difference can take), rescaled to the level Holm's correction tested it (statistics.holm_confidence) over the
    row's paired seeds, and cut again to [-reference, 1 - reference]. Filled markers then agree with the intervals."""
    if "diff_holm_low" in table.columns:
        return table
    column = table["compared_on"].iloc[0]
    reference = float(table.loc[table["verdict"] == "reference", column].iloc[0])
    lows, highs, levels = [], [], []
    for row in table.itertuples():
        pairs = len(str(row.seeds).split(","))
        level = holm_confidence(row.p, row.p_holm)
        if not math.isfinite(level) or pairs < 2 or not math.isfinite(row.diff_low):
            lows.append(math.nan), highs.append(math.nan), levels.append(level)
            continue
        error = max(row.diff - row.diff_low, row.diff_high - row.diff) / stats.t.ppf(0.975, pairs - 1)
        half = stats.t.ppf((1 + level) / 2, pairs - 1) * error
        lows.append(max(row.diff - half, -reference)), highs.append(min(row.diff + half, 1 - reference))
        levels.append(level)
    return table.assign(diff_holm_low=lows, diff_holm_high=highs, diff_holm_level=levels)


def redraw(folder: Path) -> Path | None:
    table = with_holm_intervals(pd.read_csv(folder / "summary.csv", keep_default_na=True))
    markdown = folder / "summary.md"
    text = markdown.read_text()
    title = text.splitlines()[0].lstrip("# ").strip()
    drawn = forest(table, group_styles(table), f"Paired difference from the reference — {title}",
                   folder / "comparison.png")
    if drawn is not None and LINK not in text:
        markdown.write_text(text.replace("## Figures\n\n", f"## Figures\n\n{LINK}\n", 1))
    return drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="report folders holding summary.csv and summary.md")
    args = parser.parse_args(argv)
    missing = [f for f in args.folders if not (f / "summary.csv").is_file() or not (f / "summary.md").is_file()]
    if missing:
        print(f"redraw_comparison: no summary.csv and summary.md in {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    for folder in args.folders:
        drawn = redraw(folder)
        print(drawn if drawn is not None else f"{folder}: one group, nothing to compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
