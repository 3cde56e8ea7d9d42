"""Does ``torch.compile`` pay for itself in a small search? Warm-up against the saving per step, side by side.

The network is ``make search``'s supernet (DARTS space, 8 channels, 4 cells, 8 x 8 inputs, batch 64, channels-last as
the search app builds it on the CPU); the pass is the weight step's forward and backward (the architecture step's
passes go through ``functional_call`` with other weights and would compile again). One process: an eager pass, the
first compiled pass (the warm-up), then eager and compiled passes alternating. The break-even is the number of
passes whose saving repays the warm-up.

    python experiments/bench_compile.py                 # 2 threads, 8 alternating pairs
    python experiments/bench_compile.py --threads 1 --pairs 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=8, help="alternating eager/compiled passes measured")
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from irlas_darts.search.architecture import Architecture
    from irlas_darts.search.supernet import create_supernet
    from irlas_darts.spaces import create_space

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = create_space("darts")
    net = create_supernet(space, in_channels=3, num_classes=10, C=8, layers=4, channels_last=True)
    probs = {k: v.detach() for k, v in Architecture(space, generator=torch.Generator().manual_seed(0)).probs().items()}
    x, y = torch.randn(args.batch, 3, 8, 8), torch.randint(0, 10, (args.batch,))

    def timed(model) -> float:
        start = time.perf_counter()
        F.cross_entropy(model(x, probs), y).backward()
        return time.perf_counter() - start

    timed(net)  # the eager warm-up (allocator, oneDNN primitives)
    compiled = torch.compile(net)
    warmup = timed(compiled)
    eager, comp = [], []
    for _ in range(args.pairs):
        eager.append(timed(net))
        comp.append(timed(compiled))
    e, c = statistics.median(eager), statistics.median(comp)
    saving = e - c
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}; weight step forward + backward of "
          "make search's supernet")
    print("| eager (ms) | compiled (ms) | speed-up | first compiled pass (s) | break-even (passes) |")
    print("|---:|---:|---:|---:|---:|")
    even = f"{(warmup - c) / saving:,.0f}" if saving > 0 else "never"  # the warm-up pass did one pass of work too
    print(f"| {1000 * e:.0f} | {1000 * c:.0f} | {e / c:.2f}x | {warmup:.0f} | {even} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
