"""Where one search step's time goes: arithmetic on the device, or the host launching it (operator overhead).

Builds the same step as ``bench_vs_darts.py`` (DARTS' CIFAR search network or ``make search``'s small supernet; ours
under each ``search.lean`` / channels-last setting asked for, and the original DARTS code when ``--darts-dir`` is
given), times it, then runs ``torch.profiler`` over one step (``--profiled``) and prints one table: the step's wall
time, the time the device spent in kernels (CUDA) or in operators (CPU), how many kernels (operators) a step
launches, how many host-device synchronisations it waits on, and the operators that take the most time. On CUDA,
a step whose kernel time is far below its wall time is launch-bound: fewer, larger kernels (or CUDA graphs) are the
cure, not faster arithmetic.

    python experiments/profile_step.py --device cuda --darts-dir ~/darts/cnn
    python experiments/profile_step.py --size small --configs lean1-cl1,lean0-cl1     # CPU, make search's size
"""

from __future__ import annotations

import argparse
import statistics
import sys
from functools import partial
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

CONFIGS = ("lean1-cl1", "lean0-cl1", "lean1-cl0", "lean0-cl0")
SYNC_OPS = ("aten::_local_scalar_dense", "cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpyAsync")


def _parse_config(name: str) -> tuple[bool, bool]:
    """``lean1-cl0`` -> (lean=True, channels_last=False)."""
    lean, cl = name.split("-")
    return lean == "lean1", cl == "cl1"


def profile(step, device, warmup: int, steps: int, top: int, profiled: int = 1) -> dict:
    """Median wall time of ``steps`` steps after ``warmup``, then ``profiled`` steps under the profiler (on CUDA its
    bookkeeping of a step's many thousand kernels takes far longer than the step: one is the default)."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    import bench_vs_darts as bvd

    times = bvd.time_steps(step, warmup, steps, device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        for _ in range(profiled):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    events = prof.key_averages()
    if device.type == "cuda":
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        busy_us = sum(e.device_time for e in kernels)
        launches = len(kernels)
    else:
        ops = [e for e in events if e.key.startswith("aten::")]
        busy_us = sum(e.self_cpu_time_total for e in ops)
        launches = sum(e.count for e in ops)
    syncs = sum(e.count for e in events if e.key in SYNC_OPS)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = events.table(sort_by=key, row_limit=top, max_name_column_width=48)
    return {"ms": 1000 * statistics.median(times), "busy_ms": busy_us / 1000 / profiled,
            "launches": launches / profiled, "syncs": syncs / profiled, "table": table}


def main(argv: list[str] | None = None) -> int:
    import torch

    import bench_vs_darts as bvd

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", choices=tuple(bvd.SIZES), default="cifar")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--mode", choices=bvd.MODES, default="first")
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"ours: comma list of {', '.join(CONFIGS)}")
    p.add_argument("--darts-dir", help="the original code's cnn/ folder: profile it too")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="timed steps (median)")
    p.add_argument("--profiled", type=int, default=1, help="steps under the profiler")
    p.add_argument("--top", type=int, default=12, help="operators listed per configuration")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        p.error(f"--configs: unknown {bad[0]!r}; choose from {', '.join(CONFIGS)}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device here")
    runs: list[tuple[str, Callable[[], Callable[[], float]]]] = []  # (name, builder of its step)
    if args.darts_dir:
        runs.append(("original", partial(bvd.original_step, args.mode, args.batch, device, args.darts_dir, args.size)))
    for c in configs:
        lean, cl = _parse_config(c)
        runs.append((f"ours {c}", partial(bvd.ours_step, args.mode, args.batch, device, cl, args.size, lean)))
    busy = "kernel ms" if device.type == "cuda" else "operator ms"
    count = "kernels" if device.type == "cuda" else "operators"
    rows = [f"| step ({args.mode}, batch {args.batch}, {args.size}, {args.device}) | wall ms | {busy} | busy | "
            f"{count} / step | syncs / step |", "|---|---:|---:|---:|---:|---:|"]
    for name, build in runs:
        torch.manual_seed(0)
        r = profile(build(), device, args.warmup, args.steps, args.top, args.profiled)
        print(f"## {name}: {r['ms']:.0f} ms / step\n{r['table']}", flush=True)
        rows.append(f"| {name} | {r['ms']:.0f} | {r['busy_ms']:.0f} | {r['busy_ms'] / r['ms']:.0%} | "
                    f"{r['launches']:.0f} | {r['syncs']:.0f} |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
