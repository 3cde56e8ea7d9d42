"""Our search step against another revision of this code, in one process, steps alternating.

Separate processes on these shared machines differ by up to 20 % for the same code, which hides a change of a few
percent. Here both revisions run in one process: the other revision's ``src/irlas_darts`` is taken out of git
(``git archive``) into a temporary folder as the package ``irlas_darts_base`` (its imports are relative), both
searchers are built alike, and their steps alternate (the order flips each round), so drifts of the machine hit both.
Prints the median step time of each, the ratio, and whether both took the same steps (what each step returns, the
sum of its loss statistics, equal to the bit in every round: a change that only removes work must not change a
search). The base revision's search API must be the one ``bench_vs_darts.ours_step`` builds (``SearchSettings`` with
``lean``: 2026-12-04 on).

    python experiments/bench_ab.py --base 77db385 --size small --modes first,second_fd
    python experiments/bench_ab.py --base HEAD~3 --size cifar --batch 16 --modes first --rounds 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import bench_vs_darts as bvd  # noqa: E402

BASE_PACKAGE = "irlas_darts_base"


def extract(rev: str, into: Path) -> None:
    """``src/irlas_darts`` of git revision ``rev`` as the package ``into/irlas_darts_base``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src/irlas_darts"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"bench_ab: error: --base {rev}: {archive.stderr.decode().strip() or 'git archive failed'}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    shutil.move(str(into / "src" / "irlas_darts"), str(into / BASE_PACKAGE))


def compare(mode: str, batch: int, size: str, rounds: int, warmup: int, lean: bool) -> dict:
    """Median step time (ms) of the base revision and of this one, steps alternating; and whether they agree."""
    import torch

    cpu = torch.device("cpu")
    steps = {}
    for pkg in (BASE_PACKAGE, "irlas_darts"):
        torch.manual_seed(0)  # the same weights and batches for both
        steps[pkg] = bvd.ours_step(mode, batch, cpu, True, size=size, lean=lean, package=pkg)
    times: dict[str, list[float]] = {pkg: [] for pkg in steps}
    same = True
    for r in range(warmup + rounds):
        order = list(steps) if r % 2 == 0 else list(steps)[::-1]
        out = {}
        for pkg in order:
            t0 = time.perf_counter()
            out[pkg] = steps[pkg]()
            if r >= warmup:
                times[pkg].append(time.perf_counter() - t0)
        same = same and out[BASE_PACKAGE] == out["irlas_darts"]
    base, ours = (statistics.median(times[p]) * 1e3 for p in (BASE_PACKAGE, "irlas_darts"))
    return {"mode": mode, "batch": batch, "base_ms": base, "ours_ms": ours, "speedup": base / ours, "same": same}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="git revision to compare against (e.g. HEAD~1, a commit, a tag)")
    ap.add_argument("--size", choices=tuple(bvd.SIZES), default="small")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--modes", default="first,second_exact,second_fd")
    ap.add_argument("--rounds", type=int, default=10, help="measured steps of each revision (median)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lean", type=int, choices=(0, 1), default=1, help="search.lean of both")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    unknown = [m for m in modes if m not in bvd.MODES]
    if unknown:
        raise SystemExit(f"bench_ab: error: --modes {','.join(unknown)} unknown; use some of {','.join(bvd.MODES)}")

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        extract(args.base, Path(tmp))
        sys.path.insert(0, tmp)
        rows = [compare(m, args.batch, args.size, args.rounds, args.warmup, bool(args.lean)) for m in modes]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"\nsize {args.size}, batch {args.batch}, {args.threads} threads, {args.rounds} steps each, alternating; "
          f"base {args.base} vs this tree (HEAD {head.stdout.strip()}{', plus changes' if _dirty() else ''})\n")
    print("| mode | base ms / step | this ms / step | speed-up | same steps |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['base_ms']:.0f} | {r['ours_ms']:.0f} | {r['speedup']:.2f}x | "
              f"{'yes' if r['same'] else 'NO'} |")


def _dirty() -> bool:
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True)
    return bool(status.stdout.strip())


if __name__ == "__main__":
    main()
