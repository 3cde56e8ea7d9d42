"""``python -m irlas_darts.app.nats_table <NATS-Bench file> <out.csv> --allow-pickle``: a CSV table for later lookups.

Reading the NATS-Bench file takes minutes and a pickle opt-in; the CSV it writes (``arch_str`` and CIFAR-10,
CIFAR-100, ImageNet16-120 validation and test accuracy of all 15,625 cells) is read by ``benchmark.table=<out.csv>``
in seconds, with no pickle and no ``nats_bench`` package.
"""

from __future__ import annotations

import argparse
import sys

from ..evaluation.benchmark import BenchmarkError
from ..evaluation.nats import COLUMNS, open_nats, write_table
from .errors import fail

PROGRAM = "nats_table"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m irlas_darts.app.{PROGRAM}", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="NATS-tss-v1_0-3ffb9.pickle.pbz2, or its fast-mode folder NATS-tss-v1_0-3ffb9-simple")
    ap.add_argument("out", help="the CSV to write")
    ap.add_argument("--allow-pickle", action="store_true",
                    help="load the file although it is a pickle (unpickling can run code: only files you trust)")
    args = ap.parse_args(argv)
    try:
        bench = open_nats(args.source, allow_pickle=args.allow_pickle)
        total = len(bench)

        def progress(n: int) -> None:
            if n % 1000 == 0 or n == total:
                print(f"{n}/{total} cells", file=sys.stderr, flush=True)

        out = write_table(bench, args.out, progress=progress)
    except BenchmarkError as err:
        fail(PROGRAM, str(err).replace("benchmark.allow_pickle=true", "--allow-pickle"))
    print(f"wrote {out}: {total} cells, columns arch_str, {', '.join(COLUMNS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
