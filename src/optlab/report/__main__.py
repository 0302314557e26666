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
                        help="validation accuracy for 'epochs to target' (default: 90%% of the best run's)")
    parser.add_argument("--group-by", default="optimizer",
                        help="comma-separated summary keys naming a group, e.g. optimizer,scheduler or optimizer,lr")
    parser.add_argument("--sort-by", default="epochs_to_target", choices=SORTABLE)
    parser.add_argument("--band", default="minmax", choices=("minmax", "std"), help="spread drawn around the mean")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = ReportOptions(args.target_acc, args.group_by.split(","), args.sort_by, args.band)
    try:
        outputs = write_report(args.paths, args.out, options)
    except (ValueError, FileNotFoundError) as error:
        print(f"optlab.report: {error}", file=sys.stderr)
        return 2
    print(f"report: {outputs.figure}\ntable: {outputs.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
