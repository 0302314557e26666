"""Draw the comparison figure (optlab.report.forest) of reports whose runs are no longer kept, from their tables.

    python scripts/redraw_comparison.py docs/results/tuning/tuned docs/results/tuning/default ...

The forest plot is a function of the report's summary.csv alone (each group's paired difference from the reference,
its interval and verdict), so a published report gets it without its runs: comparison.png beside summary.csv, and
a link to it first under the "Figures" of its summary.md. The report's other figures need the runs and stay as
they were drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from optlab.report.figures import group_styles
from optlab.report.forest import forest

LINK = "![comparison](comparison.png)"


def redraw(folder: Path) -> Path | None:
    table = pd.read_csv(folder / "summary.csv", keep_default_na=True)
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
