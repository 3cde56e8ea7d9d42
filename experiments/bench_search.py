"""Search step time and peak memory: first order (``first_plain``: with ``search.lean=false``), second order (exact /
finite-difference HVP), with and without the IRL regularizer, on the DARTS supernet (16 channels, 8 cells, 32x32
inputs) at batch 16 and 64.

Each configuration runs in its own subprocess so that its peak memory is its own (CPU: peak RSS growth over the
process after model build; CUDA: torch.cuda.max_memory_allocated). Times are medians over the measured steps; the
ratios are what to read: absolute times on shared machines are noisy.

    python experiments/bench_search.py                 # full table (a few minutes on 2 CPU cores)
    python experiments/bench_search.py --batch 16 --steps 3 --modes first,irl
    python experiments/bench_search.py --algorithms darts,pc_darts,gdas,drnas --modes first --overhead-steps 0

``--algorithms`` measures each search algorithm (search/algorithms) in every mode, side by side with ``darts``
at the same batch: PC-DARTS' partial channels, GDAS' one-op edges and DrNAS' Dirichlet samples change the step.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

MODES = {
    "first": dict(order="first", hvp="exact", regularizer="none"),
    "first_plain": dict(order="first", hvp="exact", regularizer="none", lean=False),  # search.lean=false
    "second_exact": dict(order="second", hvp="exact", regularizer="none"),  # reverse over forward
    "second_recompute": dict(order="second", hvp="exact_recompute", regularizer="none"),  # one cell's graph at a time
    "second_double": dict(order="second", hvp="double_backward", regularizer="none"),
    "second_jvp": dict(order="second", hvp="jvp", regularizer="none"),
    "second_fd": dict(order="second", hvp="finite_difference", regularizer="none"),
    "first+irl": dict(order="first", hvp="exact", regularizer="irl"),
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _measure(mode: str, batch: int, steps: int, warmup: int, device: str, threads: int | None, queue,
             algorithm: str = "darts", channels: int = 16, layers: int = 8, size: int = 32,
             channels_last: bool | None = None) -> None:
    import torch

    from irlas_darts.search.algorithms import create_algorithm

    from irlas_darts.regularizers import create_regularizer
    from irlas_darts.search.architecture import Architecture
    from irlas_darts.search.loop import SearchData, Searcher, SearchSettings
    from irlas_darts.search.supernet import create_supernet
    from irlas_darts.spaces import create_space
    from irlas_darts.topology import expert_cells

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = MODES[mode]
    dev = torch.device(device)
    space = create_space("darts")
    alg = create_algorithm(algorithm, space)
    cl = dev.type == "cpu" if channels_last is None else channels_last  # None: as the search app builds it
    net = alg.adapt_supernet(create_supernet(space, in_channels=3, num_classes=10, C=channels, layers=layers,
                                             channels_last=cl)).to(dev)
    if cl:
        net.to(memory_format=torch.channels_last)  # the edges an algorithm has just built, too
    arch = Architecture(space, generator=torch.Generator().manual_seed(0), algorithm=alg).to(dev)
    expert = expert_cells(space, _expert_texts())
    reg = create_regularizer(spec["regularizer"], space, expert=expert, lam=0.1, tau=0.3)
    x = torch.randn(4 * batch, 3, size, size, device=dev)
    y = torch.randint(0, 10, (4 * batch,), device=dev)
    data = SearchData(x[: 2 * batch], y[: 2 * batch], x[2 * batch :], y[2 * batch :])
    settings = SearchSettings(epochs=1, batch_size=batch, order=spec["order"], hvp=spec["hvp"],
                              lean=spec.get("lean", True))
    searcher = Searcher(space, net, arch, data, settings, reg, seed=0)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base_rss = _rss_mb()
    times = []
    for i in range(warmup + steps):
        xw, yw, xa, ya = x[:batch], y[:batch], x[2 * batch : 3 * batch], y[2 * batch : 3 * batch]
        t0 = time.perf_counter()
        out = searcher.step(xw, yw, xa, ya, lr=0.025)
        out.sum().item()  # one sync so the step has finished
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else _rss_mb() - base_rss
    queue.put({"mode": mode, "algorithm": algorithm, "batch": batch, "median_ms": 1000 * statistics.median(times), "peak_mb": peak,
               "peak_kind": "cuda_alloc" if dev.type == "cuda" else "rss_growth"})


def _overhead(batch: int, steps: int, device: str, threads: int | None, queue) -> None:
    """Regularizer cost, measured interleaved: the same searcher alternates steps with `none` and with `irl`, so
    both see the same machine load (separate runs drift on a shared machine by more than the cost itself)."""
    import torch

    from irlas_darts.regularizers import create_regularizer
    from irlas_darts.search.architecture import Architecture
    from irlas_darts.search.loop import SearchData, Searcher, SearchSettings
    from irlas_darts.search.supernet import create_supernet
    from irlas_darts.spaces import create_space
    from irlas_darts.topology import expert_cells

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    space = create_space("darts")
    net = create_supernet(space, in_channels=3, num_classes=10, C=16, layers=8).to(dev)
    arch = Architecture(space, generator=torch.Generator().manual_seed(0)).to(dev)
    regs = {name: create_regularizer(name, space, expert=expert_cells(space, _expert_texts()), lam=0.003, tau=0.1)
            for name in ("none", "irl")}
    x = torch.randn(2 * batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (2 * batch,), device=dev)
    searcher = Searcher(space, net, arch, SearchData(x[:batch], y[:batch], x[batch:], y[batch:]),
                        SearchSettings(epochs=1, batch_size=batch), regs["irl"], seed=0)
    times: dict[str, list[float]] = {"none": [], "irl": []}
    for i in range(2 * (steps + 1)):
        name = ("none", "irl")[i % 2]
        searcher.regularizer = regs[name]
        t0 = time.perf_counter()
        searcher.step(x[:batch], y[:batch], x[batch:], y[batch:], lr=0.025).sum().item()
        if i >= 2:
            times[name].append(time.perf_counter() - t0)
    queue.put({name: 1000 * statistics.median(t) for name, t in times.items()})


def _expert_texts() -> list[str]:
    import yaml

    path = Path(__file__).resolve().parents[1] / "conf" / "expert" / "resnext.yaml"
    return list(yaml.safe_load(path.read_text())["darts"])


def run(modes: list[str], batches: list[int], steps: int, warmup: int, device: str, threads: int | None,
        algorithms: tuple[str, ...] = ("darts",), channels: int = 16, layers: int = 8, size: int = 32,
        timeout: float | None = None, channels_last: bool | None = None) -> list[dict]:
    """One spawned process per (batch, mode, algorithm). ``timeout`` (seconds per configuration) ends a process that
    has not answered; a process that dies or times out gives a row with ``error`` and NaN figures, so a caller with
    a time budget (experiments/gpu_check.py) keeps the rows that did finish."""
    ctx = mp.get_context("spawn")
    rows = []
    for batch in batches:
        for mode in modes:
            for algorithm in algorithms:
                q = ctx.Queue()
                p = ctx.Process(target=_measure, args=(mode, batch, steps, warmup, device, threads, q, algorithm,
                                                       channels, layers, size, channels_last))
                p.start()
                result, timed_out = _answer(p, q, timeout)
                p.join()
                if result is None:
                    why = "timed out" if timed_out else f"exit code {p.exitcode}"
                    result = {"mode": mode, "algorithm": algorithm, "batch": batch, "median_ms": float("nan"),
                              "peak_mb": float("nan"), "peak_kind": None, "error": why}
                rows.append(result)
                print(f"  measured {algorithm:>9} {mode:>13} batch {batch:>3}: {result['median_ms']:.0f} ms/step",
                      file=sys.stderr, flush=True)
    return rows


def _answer(p, q, timeout: float | None) -> tuple[dict | None, bool]:
    """The child's row (None once it died without one or ``timeout`` passed: the child is then killed), and
    whether it timed out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        try:
            return q.get(timeout=0.5), False
        except queue.Empty:
            if not p.is_alive():
                try:
                    return q.get(timeout=0.5), False  # it may have answered just before exiting
                except queue.Empty:
                    return None, False
    p.kill()
    return None, True


def algorithm_table(rows: list[dict]) -> str:
    """Each algorithm against ``darts`` in the same mode and batch: step time and peak memory, and their ratios."""
    base = {(r["mode"], r["batch"]): r for r in rows if r["algorithm"] == "darts"}
    lines = ["| algorithm | mode | batch | median step (ms) | x darts | peak memory (MB) | x darts |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = base.get((r["mode"], r["batch"]))
        t = r["median_ms"] / b["median_ms"] if b else float("nan")
        m = r["peak_mb"] / b["peak_mb"] if b and b["peak_mb"] > 0 else float("nan")
        lines.append(f"| {r['algorithm']} | {r['mode']} | {r['batch']} | {r['median_ms']:.0f} | {t:.2f} | "
                     f"{r['peak_mb']:.0f} | {m:.2f} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    first = {r["batch"]: r["median_ms"] for r in rows if r["mode"] == "first"}
    lines = ["| mode | batch | median step (ms) | x first order | peak memory (MB) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["median_ms"] / first[r["batch"]] if r["batch"] in first else float("nan")
        lines.append(f"| {r['mode']} | {r['batch']} | {r['median_ms']:.0f} | {ratio:.2f} | {r['peak_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    ap.add_argument("--batch", default="16,64", help="comma list of batch sizes")
    ap.add_argument("--steps", type=int, default=5, help="measured steps per configuration")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cuda" if _cuda() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--overhead-steps", type=int, default=10,
                    help="interleaved none/irl step pairs for the regularizer's cost (0: skip)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--algorithms", default="", help="comma list of search algorithms to compare with darts "
                    "(e.g. darts,pc_darts,gdas,drnas); darts is added when missing")
    ap.add_argument("--channels-last", choices=("auto", "0", "1"), default="auto",
                    help="the supernet's memory format; auto: as the search app (channels-last on the CPU)")
    args = ap.parse_args()
    channels_last = None if args.channels_last == "auto" else args.channels_last == "1"
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        ap.error(f"--modes: unknown {unknown[0]!r}; choose from {', '.join(MODES)}")
    algorithms = tuple(a for a in args.algorithms.split(",") if a)
    if algorithms and "darts" not in algorithms:
        algorithms = ("darts", *algorithms)
    from irlas_darts.search.algorithms import available_algorithms

    unknown = [a for a in algorithms if a not in available_algorithms()]
    if unknown:
        ap.error(f"--algorithms: unknown {unknown[0]!r}; choose from {', '.join(available_algorithms())}")
    rows = run(modes, [int(b) for b in args.batch.split(",")], args.steps, args.warmup, args.device, args.threads,
               algorithms or ("darts",), channels_last=channels_last)
    layout = {"auto": "as the app", "0": "NCHW", "1": "channels-last"}[args.channels_last]
    print(f"DARTS supernet, 16 channels, 8 cells, 32x32 inputs ({layout}), device {args.device}, "
          f"median of {args.steps} steps")
    print(algorithm_table(rows) if algorithms else table(rows))
    if args.overhead_steps:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        batch = int(args.batch.split(",")[0])
        p = ctx.Process(target=_overhead, args=(batch, args.overhead_steps, args.device, args.threads, q))
        p.start()
        res = q.get()
        p.join()
        print(f"\nIRL regularizer cost, first order, batch {batch}, {args.overhead_steps} interleaved step pairs: "
              f"none {res['none']:.0f} ms, irl {res['irl']:.0f} ms per step, "
              f"{100 * (res['irl'] / res['none'] - 1):+.1f}%")
        rows.append({"mode": "overhead", "batch": batch, **res})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
