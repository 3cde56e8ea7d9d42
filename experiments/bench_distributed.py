"""Search throughput of one data-parallel search: samples per second with 1 and N processes at the same global batch.

Each process count runs under ``torchrun --standalone`` (the launcher the search itself uses), builds the DARTS
supernet on random 32x32 data, and times full search steps (architecture step + weight step) on its shard of each
global batch, between barriers. On the CPU the processes share a fixed number of threads (``--threads``, split evenly),
so the ideal is the 1-process rate (efficiency = rate / 1-process rate); on GPUs each process has its own GPU, so
the ideal is N times the 1-GPU rate (efficiency = rate / (N x 1-GPU rate)).

    python experiments/bench_distributed.py                            # CPU: 1 process x 2 threads vs 2 x 1
    python experiments/bench_distributed.py --threads-per-process 1   # 1 x 1 thread vs 2 x 1 thread
    python experiments/bench_distributed.py --sync-bn --order second
    python experiments/bench_distributed.py --device cuda --nproc 1,8  # one machine with 8 GPUs (not run here)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from irlas_darts import distributed as dist
    from irlas_darts.data import rank_slice
    from irlas_darts.regularizers import Regularizer
    from irlas_darts.search.architecture import Architecture
    from irlas_darts.search.loop import SearchData, Searcher, SearchSettings
    from irlas_darts.search.supernet import create_supernet
    from irlas_darts.spaces import create_space

    world = dist.env_world_size()
    if args.device == "cpu":
        torch.set_num_threads(args.threads_per_process or max(args.threads // world, 1))
        device = torch.device("cpu")
    else:
        device = torch.device("cuda", dist.env_local_rank())
        torch.cuda.set_device(device)
    ctx = dist.init_from_env(device)
    torch.manual_seed(0)
    space = create_space("darts")
    net = create_supernet(space, in_channels=3, num_classes=10, C=args.channels, layers=args.layers).to(device)
    arch = Architecture(space, generator=torch.Generator().manual_seed(0)).to(device)
    b = args.batch
    x = torch.randn(4 * b, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    y = torch.randint(0, 10, (4 * b,), generator=torch.Generator().manual_seed(2)).to(device)
    data = SearchData(x[: 2 * b], y[: 2 * b], x[2 * b :], y[2 * b :])
    settings = SearchSettings(epochs=1, batch_size=b, order=args.order, sync_bn=args.sync_bn)
    searcher = Searcher(space, net, arch, data, settings, Regularizer(space), seed=0)
    part = rank_slice(b, ctx.rank, ctx.world_size)

    def step(i: int) -> None:
        lo = (i % 2) * b
        xw, yw = data.weight_x[lo : lo + b][part], data.weight_y[lo : lo + b][part]
        xa, ya = data.arch_x[lo : lo + b][part], data.arch_y[lo : lo + b][part]
        searcher.step(xw, yw, xa, ya, 0.025)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dist.barrier()

    for i in range(args.warmup):
        step(i)
    sync()
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    sync()
    seconds = time.perf_counter() - start
    if ctx.is_main:
        Path(args.out).write_text(json.dumps({
            "nproc": ctx.world_size, "threads": torch.get_num_threads(), "seconds_per_step": seconds / args.steps,
            "samples_per_second": args.steps * b / seconds, "backend": ctx.backend,
        }))
    dist.destroy()


def launch(args: argparse.Namespace, nproc: int) -> dict:
    torchrun = Path(sys.executable).with_name("torchrun")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", __file__, "--worker", "--out", str(out),
               "--device", args.device, "--threads", str(args.threads), "--batch", str(args.batch),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--channels", str(args.channels),
               "--layers", str(args.layers), "--order", args.order,
               "--threads-per-process", str(args.threads_per_process)] + (["--sync-bn"] if args.sync_bn else [])
        threads = str(args.threads_per_process or max(args.threads // nproc, 1)) if args.device == "cpu" else "1"
        subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS=threads, TMPDIR=tmp,
                                                 PYTHONPATH=str(ROOT / "src")))
        return json.loads(out.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--nproc", default="1,2", help="process counts to compare, comma-separated; the first is the base")
    p.add_argument("--threads", type=int, default=2, help="CPU threads shared by all processes")
    p.add_argument("--threads-per-process", type=int, default=0,
                   help="give each process this many threads instead of sharing --threads (CPU; ideal = N x base)")
    p.add_argument("--batch", type=int, default=32, help="global batch (search.batch_size)")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--order", default="first", choices=["first", "second"])
    p.add_argument("--sync-bn", action="store_true", help="BatchNorm statistics over the global batch")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    counts = [int(n) for n in args.nproc.split(",")]
    results = [launch(args, n) for n in counts]
    base = results[0]["samples_per_second"]
    print(f"DARTS supernet C={args.channels} layers={args.layers}, 32x32, global batch {args.batch}, {args.order} "
          f"order, sync_bn {'on' if args.sync_bn else 'off'}, {args.device}")
    print("| processes | threads each | per-rank batch | s/step | samples/s | speedup | efficiency |")
    print("|---|---|---|---|---|---|---|")
    for n, r in zip(counts, results):
        speedup = r["samples_per_second"] / base
        scales = args.device == "cuda" or args.threads_per_process  # each process brings its own GPU / threads
        ideal = n / counts[0] if scales else 1.0  # else the CPU processes share the same threads
        print(f"| {n} | {r['threads']} | {args.batch // n} | {r['seconds_per_step']:.3f} | "
              f"{r['samples_per_second']:.1f} | {speedup:.2f}x | {speedup / ideal:.0%} |")


if __name__ == "__main__":
    main()
