"""Search step time and peak memory, side by side with the original DARTS code (quark0/darts, ``cnn/``).

The setting is DARTS' own CIFAR search network: 16 channels, 8 cells, 32x32 inputs, SGD 0.025 / momentum 0.9 /
weight decay 3e-4, Adam for the alphas, gradient clipping 5. One "step" is what one iteration of the original
``train_search.py`` does: the architecture step on a validation batch, then the weight step on a training batch.

Every (implementation, mode, batch) runs in a fresh process, so its peak memory is its own: peak RSS growth over the
process once model and data are built (CUDA: ``max_memory_allocated``). Implementations alternate (original, ours,
ours, original, ...) so slow drifts of a shared machine hit both alike; read the ratios, not the absolute times.

The original is imported from ``--darts-dir`` (a checkout's ``cnn/`` folder). Its ``.cuda()`` calls are made no-ops
at import time (``Tensor.cuda`` and ``Module.cuda`` return ``self``) -- on a CPU machine the only thing that stops it
from running; nothing else of it is touched. It has no exact Hessian-vector product: "second_exact" and
"second_recompute" (the same exact product at one cell's memory, ``search.hvp=exact_recompute``) compare ours
against its finite differences.

    python experiments/bench_vs_darts.py --darts-dir ~/darts/cnn              # batches 16 and 64, all modes
    python experiments/bench_vs_darts.py --darts-dir ~/darts/cnn --batches 16 --modes first
    python experiments/bench_vs_darts.py --darts-dir ~/darts/cnn --size small  # make search's supernet, batch 64
    python experiments/bench_vs_darts.py --darts-dir ~/darts/cnn --size small --lean 1,0  # and with search.lean=false
    python experiments/bench_vs_darts.py                                       # ours alone
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("first", "second_exact", "second_fd", "second_recompute")
# (order, hvp) of ours per mode; the original runs unrolled=False for "first", True (finite differences) otherwise.
OURS = {"first": ("first", "exact"), "second_exact": ("second", "exact"), "second_fd": ("second", "finite_difference"),
        "second_recompute": ("second", "exact_recompute")}
# (speed >=, memory <=); second_recompute (the exact product at one cell's memory) is held to the exact targets
TARGETS = {"first": (2.0, 0.6), "second_exact": (1.5, 1.0), "second_fd": (2.0, None), "second_recompute": (1.5, 1.0)}
# (channels, cells, input side) per --size: DARTS' CIFAR search network, and `make search`'s supernet (digits preset)
SIZES = {"cifar": (16, 8, 32), "small": (8, 4, 8)}
LR, MOMENTUM, WEIGHT_DECAY, ARCH_LR, ARCH_WD, CLIP = 0.025, 0.9, 3e-4, 3e-4, 1e-3, 5.0


# --- one measurement, in its own process ------------------------------------------------------------------------------
def _peak_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def time_steps(step, warmup: int, steps: int, device) -> list[float]:
    import torch

    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def ours_step(mode: str, batch: int, device, channels_last: bool, size: str = "cifar", lean: bool = True,
              package: str = "irlas_darts"):
    """Our searcher's step on a synthetic batch; returns the step function. ``package``: the importable name of the
    code to run (``bench_ab.py`` imports another revision under another name beside this one)."""
    searcher, (xw, yw, xa, ya) = ours_searcher(mode, batch, device, channels_last, size, lean, package)
    return lambda: searcher.step(xw, yw, xa, ya, lr=LR).sum().item()


def ours_searcher(mode: str, batch: int, device, channels_last: bool, size: str = "cifar", lean: bool = True,
                  package: str = "irlas_darts"):
    """The searcher ``ours_step`` steps, and its batches ``(x_train, y_train, x_val, y_val)``."""
    import importlib

    import torch

    sys.path.insert(0, str(ROOT / "src"))
    Architecture = importlib.import_module(f"{package}.search.architecture").Architecture
    loop = importlib.import_module(f"{package}.search.loop")
    SearchData, Searcher, SearchSettings = loop.SearchData, loop.Searcher, loop.SearchSettings
    create_supernet = importlib.import_module(f"{package}.search.supernet").create_supernet
    create_space = importlib.import_module(f"{package}.spaces").create_space

    order, hvp = OURS[mode]
    channels, cells, side = SIZES[size]
    space = create_space("darts")
    net = create_supernet(space, in_channels=3, num_classes=10, C=channels, layers=cells, channels_last=channels_last)
    net = net.to(device)
    arch = Architecture(space, generator=torch.Generator().manual_seed(0)).to(device)
    x = torch.randn(4 * batch, 3, side, side, device=device)
    y = torch.randint(0, 10, (4 * batch,), device=device)
    settings = SearchSettings(epochs=1, batch_size=batch, order=order, hvp=hvp, lr=LR, momentum=MOMENTUM,
                              weight_decay=WEIGHT_DECAY, grad_clip=CLIP, arch_lr=ARCH_LR,
                              arch_weight_decay=ARCH_WD, lean=lean)
    searcher = Searcher(space, net, arch, SearchData(x[: 2 * batch], y[: 2 * batch], x[2 * batch:], y[2 * batch:]),
                        settings, seed=0)
    return searcher, (x[:batch], y[:batch], x[2 * batch: 3 * batch], y[2 * batch: 3 * batch])


def import_original(darts_dir: str, device) -> tuple[type, type]:
    """The original ``Architect`` and ``Network`` (``cnn/architect.py``, ``cnn/model_search.py``), importable on a CPU.

    The CPU shim: ``.cuda()`` becomes a move to ``device`` (a no-op on the CPU); nothing else of the code is touched.
    Shared with ``experiments/with_original_darts.py``.
    """
    import torch
    from torch import nn

    torch.Tensor.cuda = lambda self, *a, **k: self.to(device)  # the no-op on CPU; a real move on CUDA
    nn.Module.cuda = lambda self, *a, **k: self.to(device)
    sys.path.insert(0, str(darts_dir))
    from architect import Architect  # noqa: E402  (the original code, imported after the patch)
    from model_search import Network  # noqa: E402

    return Architect, Network


def original_step(mode: str, batch: int, device, darts_dir: str, size: str = "cifar"):
    """The original train_search.py iteration (architect.step, then the weight step), unchanged but for .cuda()."""
    import types

    import torch
    from torch import nn

    Architect, Network = import_original(darts_dir, device)
    criterion = nn.CrossEntropyLoss()
    channels, cells, side = SIZES[size]
    model = Network(channels, 10, cells, criterion).to(device)
    optimizer = torch.optim.SGD(model.parameters(), LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    args = types.SimpleNamespace(momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, arch_learning_rate=ARCH_LR,
                                 arch_weight_decay=ARCH_WD)
    architect = Architect(model, args)
    x = torch.randn(4 * batch, 3, side, side, device=device)
    y = torch.randint(0, 10, (4 * batch,), device=device)
    xw, yw, xa, ya = x[:batch], y[:batch], x[2 * batch: 3 * batch], y[2 * batch: 3 * batch]
    unrolled = mode != "first"

    def step() -> float:
        model.train()
        architect.step(xw, yw, xa, ya, LR, optimizer, unrolled=unrolled)
        optimizer.zero_grad()
        loss = criterion(model(xw), yw)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        return loss.item()

    return step


def worker(args: argparse.Namespace) -> None:
    import warnings

    import torch

    warnings.filterwarnings("ignore")  # the original code's deprecated add_/sub_ overloads
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.impl == "original":
        step = original_step(args.mode, args.batch, device, args.darts_dir, args.size)
    else:
        step = ours_step(args.mode, args.batch, device, args.channels_last, args.size, bool(args.lean))
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = 0.0 if device.type == "cuda" else _peak_mb(device)
    times = time_steps(step, args.warmup, args.steps, device)
    print(json.dumps({"ms": 1000 * statistics.median(times), "mb": _peak_mb(device) - base}))


# --- the driver -----------------------------------------------------------------------------------------------------
def _run(impl: str, mode: str, batch: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--mode", mode, "--batch", str(batch),
           "--threads", str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--device", args.device, "--channels-last", str(int(args.channels_last)), "--size", args.size,
           "--lean", str(int(args.lean))]
    if impl == "original":
        cmd += ["--darts-dir", args.darts_dir]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{impl} {mode} batch {batch} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(rows: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in rows) for k in ("ms", "mb")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--darts-dir", help="the original code's cnn/ folder (quark0/darts); without it: ours alone")
    p.add_argument("--size", choices=tuple(SIZES), default="cifar",
                   help="cifar: DARTS' search network (16 ch, 8 cells, 32 px); small: make search's (8 ch, 4 cells, 8 px)")
    p.add_argument("--batches", default=None, help="default: 16,64 (cifar), 64 (small)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--steps", type=int, default=3, help="measured steps per process (median)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1, help="processes per configuration (median of medians)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--channels-last", choices=("auto", "0", "1"), default="auto",
                   help="our supernet's memory format: 1 channels-last, 0 NCHW, auto as the search app builds it "
                        "(channels-last on the CPU, NCHW on CUDA, where channels-last measured slower)")
    p.add_argument("--lean", default="1", help="our search.lean (1: the memory-lean nodes, 0: the plain modules); "
                   "1,0: a row of each")
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--worker", choices=("ours", "original"), help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.channels_last == "auto":
        args.channels_last = "1" if args.device == "cpu" else "0"
    args.channels_last = args.channels_last == "1"
    if args.batches is None:
        args.batches = "64" if args.size == "small" else "16,64"
    if args.worker:
        args.impl, args.lean = args.worker, int(args.lean)
        worker(args)
        return 0
    if any(v not in ("0", "1") for v in args.lean.split(",")):
        p.error(f"--lean: {args.lean!r}; use 1, 0 or 1,0")
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        p.error(f"--modes: unknown {bad}; use any of {','.join(MODES)}")
    if args.darts_dir and not (Path(args.darts_dir) / "model_search.py").is_file():
        p.error(f"--darts-dir={args.darts_dir} has no model_search.py; point it at the original code's cnn/ folder")
    impls = ["original", "ours"] if args.darts_dir else ["ours"]
    rows = []
    flip = False
    done: dict[tuple, list[dict]] = {}  # the original's two second-order rows are one configuration: run it once
    leans = [int(v) for v in args.lean.split(",")]
    for batch, mode, lean in ((int(b), m, v) for b in args.batches.split(",") for m in modes for v in leans):
        args_run = argparse.Namespace(**{**vars(args), "lean": lean})
        got: dict[str, list[dict]] = {impl: [] for impl in impls}
        for r in range(args.repeats):
            for impl in (impls[::-1] if flip else impls):
                key = (impl, "first" if mode == "first" else "second", batch, r) if impl == "original" else None
                if key in done:
                    got[impl].append(done[key])
                    continue
                got[impl].append(_run(impl, mode, batch, args_run))
                if key is not None:
                    done[key] = got[impl][-1]
                print(f"  {impl:8s} {mode:12s} batch {batch:3d} lean {lean}: {got[impl][-1]['ms']:8.0f} ms "
                      f"{got[impl][-1]['mb']:7.0f} MB", file=sys.stderr, flush=True)
            flip = not flip
        rows.append({"mode": mode, "batch": batch, "lean": lean, **{impl: _median(r) for impl, r in got.items()}})
    print(_table(rows, args))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def allocator() -> str:
    """Which C allocator the processes run on: peak RSS depends on it (README *Measured*: on glibc's heap the exact
    product's peak is 1.7x what the same step reaches on tcmalloc or jemalloc), and ``LD_PRELOAD`` reaches both
    implementations' processes alike."""
    preload = [Path(p).name for p in os.environ.get("LD_PRELOAD", "").replace(":", " ").split()]
    return "allocator " + (", ".join(preload) if preload else "glibc malloc")


def _table(rows: list[dict], args: argparse.Namespace) -> str:
    label = {"first": "first order", "second_exact": "second order, exact HVP (original: finite differences)",
             "second_fd": "second order, finite differences",
             "second_recompute": "second order, exact HVP recomputing cells (original: finite differences)"}
    channels, cells, side = SIZES[args.size]
    where = f"{args.size}: {channels} ch, {cells} cells, {side} px; {args.device}, {args.threads} thread(s), {args.steps} steps after {args.warmup} warm-up, median; {allocator()}"
    if "original" not in rows[0]:
        lines = [f"ours alone ({where})", "", "| mode | batch | ms / step | peak MB |", "|---|---|---|---|"]
        lines += [f"| {label[r['mode']]}{'' if r.get('lean', 1) else ', search.lean=false'} | {r['batch']} | "
                  f"{r['ours']['ms']:.0f} | {r['ours']['mb']:.0f} |" for r in rows]
        return "\n".join(lines)
    lines = [f"original DARTS vs irlas_darts ({where})", "",
             "| mode | batch | original (ms / MB) | irlas_darts (ms / MB) | speed | memory | target |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        o, u = r["original"], r["ours"]
        name = label[r["mode"]] + ("" if r.get("lean", 1) else ", ours with search.lean=false")
        speed, mem = o["ms"] / u["ms"], u["mb"] / max(o["mb"], 1e-9)
        need_speed, need_mem = TARGETS[r["mode"]]
        ok = speed >= need_speed and (need_mem is None or mem <= need_mem)
        target = f">= {need_speed}x" + (f", <= {need_mem}x" if need_mem is not None else "")
        lines.append(f"| {name} | {r['batch']} | {o['ms']:.0f} / {o['mb']:.0f} | {u['ms']:.0f} / "
                     f"{u['mb']:.0f} | {speed:.2f}x | {mem:.2f}x | {target} {'met' if ok else 'MISSED'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
