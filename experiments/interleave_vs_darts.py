"""Step time against the original DARTS code in one process, the two implementations' steps alternating.

``bench_vs_darts.py`` runs every configuration in a fresh process, so that its peak memory is its own. Its speed
ratio pays for that: separate processes on these shared machines differ by up to a fifth for the same code (README
*Measured*: the original's small step took 1438 ms in one run and 2033 ms in another 40 minutes later), which moves
the ratio across a 2x line from run to run. Here both searchers are built in one process and their steps alternate
(original, ours, ours, original, ...), so a slow minute of the machine hits both alike; the table gives the ratio of
the medians and the spread of the per-round ratios. Time only: peak memory needs a process of its own.

    python experiments/interleave_vs_darts.py --darts-dir ~/darts/cnn --size small --rounds 12
    python experiments/interleave_vs_darts.py --darts-dir ~/darts/cnn --size cifar --batch 16 --modes first,second_fd
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_vs_darts  # noqa: E402  (the two steps and the targets, shared)


def interleave(steps: dict[str, object], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per step of each of ``steps`` (name -> callable), alternating their order every round."""
    names = list(steps)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            steps[name]()
            if r >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--darts-dir", required=True, help="the original code's cnn/ folder (quark0/darts)")
    p.add_argument("--size", choices=tuple(bench_vs_darts.SIZES), default="small")
    p.add_argument("--batch", type=int, default=None, help="default: 64 (small), 16 (cifar)")
    p.add_argument("--modes", default="first,second_exact,second_fd")
    p.add_argument("--rounds", type=int, default=10, help="measured steps of each implementation per mode")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in bench_vs_darts.MODES]
    if bad:
        p.error(f"--modes: unknown {bad}; use any of {','.join(bench_vs_darts.MODES)}")
    if not (Path(args.darts_dir) / "model_search.py").is_file():
        p.error(f"--darts-dir={args.darts_dir} has no model_search.py; point it at the original code's cnn/ folder")
    if args.rounds < 1 or args.warmup < 0:
        p.error("--rounds must be at least 1 and --warmup at least 0")
    batch = args.batch or (64 if args.size == "small" else 16)

    import warnings

    import torch

    warnings.filterwarnings("ignore")  # the original code's deprecated add_/sub_ overloads
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    channels, cells, side = bench_vs_darts.SIZES[args.size]
    lines = [f"original DARTS vs irlas_darts in one process, steps alternating ({args.size}: {channels} ch, {cells} "
             f"cells, {side} px, batch {batch}; cpu, {args.threads} thread(s); {args.rounds} steps each after "
             f"{args.warmup} warm-up; {bench_vs_darts.allocator()})", "",
             "| mode | original ms | irlas_darts ms | speed (ratio of medians) | per-round ratio (min – max) | target |",
             "|---|---|---|---|---|---|"]
    for mode in modes:
        torch.manual_seed(0)
        steps = {"original": bench_vs_darts.original_step(mode, batch, device, args.darts_dir, args.size),
                 "ours": bench_vs_darts.ours_step(mode, batch, device, True, args.size)}
        t = interleave(steps, args.rounds, args.warmup)
        o, u = statistics.median(t["original"]), statistics.median(t["ours"])
        per_round = [a / b for a, b in zip(t["original"], t["ours"])]
        need = bench_vs_darts.TARGETS[mode][0]
        lines.append(f"| {mode} | {1000 * o:.0f} | {1000 * u:.0f} | {o / u:.2f}x | {min(per_round):.2f}x – "
                     f"{max(per_round):.2f}x | >= {need}x {'met' if o / u >= need else 'MISSED'} |")
        print(f"  {mode}: original {1000 * o:.0f} ms, ours {1000 * u:.0f} ms", file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
