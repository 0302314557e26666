"""`python -m optlab.report FOLDER [FOLDER ...] --out DIR`: a report from any runs and sweeps, any time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from optlab.report.table import SORTABLE
from optlab.report.write import ReportOptions, write_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m optlab.report", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep folders (searched for summary.json)")
    parser.add_argument("--out", type=Path, default=Path("report"), help="where figures and tables go")
    parser.add_argument("--target-acc", type=float, default=None,
                        help="validation accuracy for time to target, a fraction "
                             "(default: each run's report.target_acc)")
    parser.add_argument("--group-by", default=None,
                        help="comma-separated config keys naming a group, e.g. optimizer,optimizer.lr "
                             "(default: every key that differs between the runs, seed aside)")
    parser.add_argument("--reference", default=None,
                        help="group label the others are compared with (default: highest mean validation "
                             "accuracy; a tie within 1e-6 goes to the lower validation loss, then the name)")
    parser.add_argument("--family-by", default=None,
                        help="comma-separated config keys splitting the runs into parts, one report each in "
                             "OUT/<part>, whose comparisons are Holm-corrected as one family, e.g. --group-by "
                             "scheduler --family-by optimizer (default: each report is its own family)")
    parser.add_argument("--sort-by", default="val_acc", choices=SORTABLE)
    parser.add_argument("--band", default="minmax", choices=("minmax", "std"), help="spread drawn around the mean")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    group_by = args.group_by.split(",") if args.group_by else None
    family_by = args.family_by.split(",") if args.family_by else None
    options = ReportOptions(args.target_acc, group_by, args.sort_by, args.band, args.reference, family_by)
    try:
        outputs = write_report(args.paths, args.out, options)
    except (ValueError, FileNotFoundError) as error:
        print(f"optlab.report: {error}", file=sys.stderr)
        return 2
    print(f"report: {outputs.markdown}\ntable: {outputs.table}")
    return 0


def run() -> None:
    """The `optlab-report` console script."""
    sys.exit(main())


if __name__ == "__main__":
    run()
