"""``irlas-report SWEEP_DIR``: the comparison report of a Hydra sweep (report.md + PNGs), summary on stdout.

A plain argparse tool, not a Hydra app: it reads a sweep Hydra already wrote and must not start a run dir of its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..report import ReportError, build_report, write_report
from .errors import EXIT_USAGE

PROG = "irlas-report"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Compare the jobs of an irlas-search sweep (e.g. regularizer=none,imitation,irl x seeds): "
                    "mean ± std per regularizer, a table of every job, plots; writes report.md and PNGs.")
    parser.add_argument("sweep_dir", metavar="SWEEP_DIR",
                        help="the Hydra multirun dir (holds multirun.yaml, 0/, 1/, ...)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="where to write report.md and the PNGs (default: SWEEP_DIR)")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # "±" and "—" on a terminal without UTF-8
    try:
        report = build_report(args.sweep_dir)
    except ReportError as err:
        fail(str(err))
    try:
        path = write_report(report, args.out)
    except OSError as err:
        fail(f"--out {args.out or args.sweep_dir}: cannot write the report ({err.strerror or err}); "
             "pass a writable directory with --out")
    print(report.summary_table())
    if report.missing:
        print(f"{len(report.missing)} job(s) missing or unreadable: {', '.join(m.name for m in report.missing)}")
    print(f"report: {path}")


if __name__ == "__main__":
    main()
