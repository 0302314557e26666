"""`python -m optlab.tune [optimizer=...] [budget=16] [seeds=5] [workers=2] [pruner=asha] [any optlab.train override]`.

Runs the protocol of conf/tune.yaml and prints where its report is. An interrupted protocol continues with
`resume=true out=<its folder>`.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from optlab.report.records import RecordsError
from optlab.tune.settings import TuneError, parse_settings


def stop_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (kill, timeout, a scheduler's stop) ends the protocol as Ctrl-C does: its workers are stopped with
    their runs saved and the wall time so far recorded, instead of the workers going on without it."""
    raise KeyboardInterrupt


def main(arguments: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][optlab.tune] %(message)s")
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    out = "<the protocol's folder>"
    try:
        settings = parse_settings(arguments)
        out = str(settings.out)
        from optlab.tune.against import write_against_report  # deferred: plotting and statistics load with these
        from optlab.tune.identity import check_against
        from optlab.tune.protocol import check_custom_optimizers, run_protocol
        from optlab.tune.report.write import write_tuning_report

        check_custom_optimizers(settings)
        if settings.against:
            check_against(settings)
        run_protocol(settings)
        report = write_tuning_report(settings)
        if settings.against:
            print(f"against report: {write_against_report(settings)}")
    except (TuneError, RecordsError) as error:
        print(f"optlab.tune: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"optlab.tune: interrupted; continue with resume=true out={out}", file=sys.stderr)
        return 130
    print(f"tuning report: {report}")
    return 0


def run() -> None:
    """The `optlab-tune` console script."""
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
