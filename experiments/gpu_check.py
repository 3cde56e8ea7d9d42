"""The GPU check (`make gpu-check`): everything this project has only ever run on the CPU, run once on one CUDA device
within 8 minutes, ending in one Markdown table (stdout) and a JSON file.

Parts, each in its own process(es) with its own time budget, so that one that hangs or crashes costs only its
budget and the table still comes out:

1. ``tests``: the CUDA-marked tests (``pytest -m cuda``).
2. ``searches``: a 1-epoch search of every algorithm in both spaces, first and second order, through ``run_search``
   (the app's code path) on CIFAR-shaped synthetic data (3 x 32 x 32, 10 classes) at the spaces' full search sizes
   (DARTS 16 channels / 8 cells, NAS-Bench-201 16 channels / 15 cells), batch 64. One worker process runs them in
   turn and writes a line per finished search; whatever the budget did not reach is reported as such.
3. ``bench``: step time and peak CUDA memory (``torch.cuda.max_memory_allocated``) of first order, exact second order
   and finite differences at batch 64 on the DARTS CIFAR search network, by ``bench_search.run`` (one process each).
4. ``torchrun``: ``torchrun -m irlas_darts device=cuda`` with one process per GPU (one GPU: one process, which needs no
   process group), and an NCCL probe: a one-process NCCL group under torchrun that all-reduces a tensor on the device,
   so NCCL itself is exercised even on a one-GPU machine.

The table ends with the projected time of a 50-epoch DARTS CIFAR-10 search: measured step time x the steps of one
epoch over CIFAR-10's 25,000 search-training images at batch 64 (25000 // 64 = 390, as the batch iterator drops the
remainder) x 50. It leaves out the per-epoch evaluation pass over the other 25,000 images (forward only).

    python experiments/gpu_check.py                      # on a CUDA machine: at most 8 minutes
    python experiments/gpu_check.py --device cpu         # the same plumbing on the CPU at a tiny size (seconds)
    python experiments/gpu_check.py --parts bench,torchrun --json out.json

Without CUDA (and without ``--device cpu``) it refuses in one line with exit code 2 before doing any work.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "experiments"))

PARTS = ("tests", "searches", "bench", "torchrun")
ALGORITHMS = ("darts", "pc_darts", "gdas", "drnas")
SPACES = ("darts", "nb201")
ORDERS = ("first", "second")
# first_plain: first order with search.lean=false (the plain modules: fewer, larger kernels; a launch-bound GPU step
# may prefer it)
BENCH_MODES = ("first", "first_plain", "second_exact", "second_recompute", "second_double", "second_jvp",
               "second_fd")
CIFAR_SEARCH_IMAGES = 25_000  # DARTS: half of CIFAR-10's 50,000 training images train the weights
PROJECTED_EPOCHS = 50
TOTAL_BUDGET_S = 480.0  # the 8 minutes


@dataclass(frozen=True)
class Sizes:
    """What the parts build: the real search sizes on CUDA, a tiny stand-in for the CPU dry run."""

    batch: int
    image: int
    classes: int
    n_train: int
    channels: dict[str, int]
    layers: dict[str, int]
    bench_steps: int
    bench_warmup: int
    threads: int | None  # torch CPU threads per process (None: torch's default)
    # seconds per part; the parts run in this order and never past the total budget
    budgets: dict[str, float]


# On the H200 (2026-12-04) a first-order step of DARTS' search network took 1.25 s at batch 64 (launch-bound), a
# 1-epoch search over 512 images 6-31 s, a second-order bench process over 20 s: hence 256 images (two weight steps
# of 64), two measured steps, and budgets that let every part finish.
CUDA_SIZES = Sizes(batch=64, image=32, classes=10, n_train=256, channels={"darts": 16, "nb201": 16},
                   layers={"darts": 8, "nb201": 15}, bench_steps=2, bench_warmup=1, threads=None,
                   budgets={"tests": 90, "searches": 180, "bench": 150, "torchrun": 60})
CPU_SIZES = Sizes(batch=8, image=8, classes=4, n_train=32, channels={"darts": 4, "nb201": 4},
                  layers={"darts": 3, "nb201": 3}, bench_steps=1, bench_warmup=0, threads=1,
                  budgets={"tests": 120, "searches": 120, "bench": 120, "torchrun": 120})


def refuse(message: str) -> None:
    print(f"gpu_check: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ---------------------------------------------------------------------------------------------------------- parts


def search_overrides(sizes: Sizes, device: str, algorithm: str, space: str, order: str) -> list[str]:
    """The ``irlas-search`` overrides of one 1-epoch search (the synthetic preset's tiny sizes overridden)."""
    return [f"algorithm={algorithm}", f"space={space}", f"search={order}_order", "dataset=synthetic",
            "dataset.options.channels=3", f"dataset.options.size={sizes.image}",
            f"dataset.options.num_classes={sizes.classes}", f"dataset.options.n_train={sizes.n_train}",
            f"space.channels={sizes.channels[space]}", f"space.layers={sizes.layers[space]}",
            f"search.batch_size={sizes.batch}", "search.epochs=1", f"device={device}", "logger.progress=false",
            *([f"runtime.threads={sizes.threads}"] if sizes.threads else [])]


def searches_worker(device: str, out: Path, work: Path, algorithms: list[str], spaces: list[str]) -> None:
    """Run every (algorithm, space, order) search in turn in this process, one JSON line each as it finishes."""
    from hydra import compose, initialize_config_dir

    from irlas_darts.app.config import conf_dir, register_configs
    from irlas_darts.app.search_app import run_search

    sizes = CUDA_SIZES if device == "cuda" else CPU_SIZES
    register_configs()
    for order in ORDERS:  # both spaces first order, then second order: a cut budget leaves each space some rows
        for space in spaces:
            for algorithm in algorithms:
                row: dict[str, Any] = {"algorithm": algorithm, "space": space, "order": order}
                start = time.perf_counter()
                try:
                    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
                        cfg = compose("irlas_search",
                                      overrides=search_overrides(sizes, device, algorithm, space, order))
                    metrics = run_search(cfg, work / f"{space}-{order}-{algorithm}")
                    row.update(status="ok", val_acc=metrics["val_acc"], genotype=metrics["genotype_text"],
                               device=metrics["environment"]["device"])
                except Exception as err:  # noqa: BLE001 - a failed search is a row of the table, not the end
                    row.update(status="failed", error=f"{type(err).__name__}: {err}".splitlines()[0][:200])
                row["seconds"] = time.perf_counter() - start
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")


def run_searches(device: str, budget: float, work: Path, algorithms: list[str], spaces: list[str]) -> dict[str, Any]:
    out = work / "searches.jsonl"
    cmd = [sys.executable, __file__, "--searches-worker", "--device", device, "--work", str(work),
           "--algorithms", ",".join(algorithms), "--spaces", ",".join(spaces)]
    res = _run(cmd, budget)
    done = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    seen = {(r["algorithm"], r["space"], r["order"]) for r in done}
    reason = "not reached: the part's budget ran out" if res["timed_out"] else f"not run: worker {res['status']}"
    missing = [{"algorithm": a, "space": s, "order": o, "status": "missing", "error": reason}
               for o in ORDERS for s in spaces for a in algorithms if (a, s, o) not in seen]
    runs = done + missing
    return {**res, "status": "ok" if all(r["status"] == "ok" for r in runs) else "failed", "runs": runs}


def run_tests(budget: float) -> dict[str, Any]:
    """``pytest -m cuda``, verbose: a test's name is printed as it starts, so a budget that runs out still says which
    tests passed and which one was running."""
    res = _run([sys.executable, "-m", "pytest", "-m", "cuda", "-v", "-p", "no:cacheprovider", "tests"], budget)
    return {**res, "counts": pytest_counts(res["tail"], res["timed_out"])}


def pytest_counts(tail: str, timed_out: bool) -> dict[str, Any]:
    """Outcome counts from pytest's summary line; when it was cut off, from the verbose lines, and the test it cut."""
    last = tail.strip().splitlines()[-1] if tail.strip() else ""
    counts: dict[str, Any] = {k: int(n) for n, k in
                              re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", last)}
    if not timed_out:
        return counts
    started = re.findall(r"^(tests/\S+::\S+)(?: (PASSED|FAILED|SKIPPED|ERROR))?", tail, flags=re.M)
    for _, outcome in started:
        if outcome:
            key = "errors" if outcome == "ERROR" else outcome.lower()
            counts[key] = counts.get(key, 0) + 1
    if started and not started[-1][1]:
        counts["cut while running"] = started[-1][0]
    return counts


def run_bench(device: str, sizes: Sizes, budget: float, modes: list[str]) -> dict[str, Any]:
    """First order (lean nodes and plain modules), exact second order (its four forms) and finite differences, one
    process each (bench_search's machinery)."""
    import bench_search

    start = time.monotonic()
    rows: list[dict[str, Any]] = []
    weight = {m: 1.0 if m.startswith("first") else 1.5 for m in modes}  # a second-order step costs 2-3 first-order
    for i, mode in enumerate(modes):  # time a mode leaves unused goes to the modes after it
        left = budget - (time.monotonic() - start)
        share = max(left, 1.0) * weight[mode] / sum(weight[m] for m in modes[i:])
        rows += bench_search.run([mode], [sizes.batch], sizes.bench_steps, sizes.bench_warmup, device,
                                 sizes.threads, channels=sizes.channels["darts"], layers=sizes.layers["darts"],
                                 size=sizes.image, timeout=share)
    return {"status": "ok" if all("error" not in r for r in rows) else "failed",
            "seconds": time.monotonic() - start, "rows": rows}


def run_torchrun(device: str, sizes: Sizes, budget: float, work: Path) -> dict[str, Any]:
    """The app under torchrun (one process per GPU), then a one-process NCCL (CPU: gloo) group probe."""
    import torch

    torchrun = str(Path(sys.executable).with_name("torchrun"))
    nproc = max(torch.cuda.device_count(), 1) if device == "cuda" else 1
    run_dir = work / "torchrun"
    overrides = search_overrides(sizes, device, "darts", "nb201", "first")
    overrides[overrides.index(f"search.batch_size={sizes.batch}")] = f"search.batch_size={sizes.batch * nproc}"
    start = time.monotonic()
    app = _run([torchrun, "--standalone", f"--nproc_per_node={nproc}", "-m", "irlas_darts", *overrides,
                f"hydra.run.dir={run_dir}"], budget * 2 / 3, tmpdir=work)  # on the H200: app 26 s, probe 13 s
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    probe_out = work / "probe.json"
    probe = _run([torchrun, "--standalone", "--nproc_per_node=1", __file__, "--probe-worker", "--device", device,
                  "--work", str(probe_out)], max(budget - (time.monotonic() - start), 1.0), tmpdir=work)
    probed = json.loads(probe_out.read_text()) if probe_out.is_file() else {}
    ok = app["status"] == "ok" and bool(metrics) and probe["status"] == "ok" and probed.get("sum") == probed.get("want")
    return {"status": "ok" if ok else "failed", "seconds": time.monotonic() - start, "nproc": nproc,
            "app": {**app, "world_size": metrics.get("world_size"), "backend": metrics.get("backend"),
                    "device": metrics.get("environment", {}).get("device")},
            "probe": {**probe, **probed}}


def probe_worker(device: str, out: Path) -> None:
    """Under torchrun: a process group on ``device``'s backend, one all-reduce on the device, a barrier."""
    import torch
    import torch.distributed as torch_dist

    local = int(os.environ.get("LOCAL_RANK", 0))
    dev = torch.device("cuda", local) if device == "cuda" else torch.device("cpu")
    backend = "nccl" if device == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"device_id": dev} if device == "cuda" else {}
    torch_dist.init_process_group(backend=backend, **kwargs)
    t = torch.full((4,), float(torch_dist.get_rank() + 1), device=dev)
    torch_dist.all_reduce(t)
    torch_dist.barrier()
    world = torch_dist.get_world_size()
    if torch_dist.get_rank() == 0:
        out.write_text(json.dumps({"backend": torch_dist.get_backend(), "world_size": world,
                                   "sum": float(t[0]), "want": world * (world + 1) / 2, "device": str(t.device)}))
    torch_dist.destroy_process_group()


def _run(cmd: list[str], budget: float, tmpdir: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` for at most ``budget`` seconds; its status, seconds and the tail of its output. ``tmpdir``: the
    process's ``TMPDIR`` (torchrun's agent leaves a ``torchelastic_*`` folder there)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
               WANDB_MODE="disabled", PYTHONUNBUFFERED="1")  # a part cut by its budget still shows its last lines
    env.pop("HYDRA_FULL_ERROR", None)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    start = time.monotonic()
    # its own process group, so that a part that runs out of time ends with all its processes (torchrun's workers,
    # bench_search's children), not only the one started here
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=max(budget, 1.0))
        status = "ok" if proc.returncode == 0 else f"exit code {proc.returncode}"
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status, timed_out = "timed out", True
    tail = out[-3000:]
    return {"status": status, "seconds": time.monotonic() - start, "timed_out": timed_out, "tail": tail}


# ----------------------------------------------------------------------------------------------------------- table


def projected_hours(step_ms: float, batch: int) -> float:
    """A 50-epoch DARTS CIFAR-10 search at this step time: 25,000 // batch steps per epoch, 50 epochs."""
    return step_ms / 1000 * (CIFAR_SEARCH_IMAGES // batch) * PROJECTED_EPOCHS / 3600


def build_table(result: dict[str, Any]) -> str:
    """One Markdown table of every part's outcome (what was measured, or why not)."""
    lines = [f"GPU check on {result['device_name']} ({result['device']}), {result['seconds']:.0f} s in all",
             "", "| part | case | status | seconds | result |", "|---|---|---|---:|---|"]
    parts = result["parts"]

    def row(part: str, case: str, status: str, seconds: float | None, text: str) -> None:
        secs = "" if seconds is None or math.isnan(seconds) else f"{seconds:.1f}"
        lines.append(f"| {part} | {case} | {status} | {secs} | {text} |")

    for name in PARTS:
        if name not in parts:
            row(name, "", "not run", None, "not selected (--parts)" if name not in result["selected"]
                else "no time left in the 8-minute budget")
            continue
        p = parts[name]
        if name == "tests":
            counts = ", ".join(f"{n} {k}" if isinstance(n, int) else f"{k} {n}"
                               for k, n in sorted(p["counts"].items())) or "no summary line"
            row(name, "pytest -m cuda", p["status"], p["seconds"], counts)
        elif name == "searches":
            for r in p["runs"]:
                text = (f"supernet acc {r['val_acc']:.3f}, on {r.get('device')}" if r["status"] == "ok"
                        else r.get("error", ""))
                row(name, f"{r['algorithm']} / {r['space']} / {r['order']} order", r["status"], r.get("seconds"),
                    text.replace("|", "/"))
        elif name == "bench":
            for r in p["rows"]:
                kind = "peak CUDA alloc" if r.get("peak_kind") == "cuda_alloc" else "peak RSS growth"
                text = (r["error"] if "error" in r else
                        f"{r['median_ms']:.0f} ms/step, {kind} {r['peak_mb']:.0f} MB, 50-epoch CIFAR-10 search "
                        f"≈ {projected_hours(r['median_ms'], r['batch']):.1f} h")
                row(name, f"{r['mode']}, batch {r['batch']}", "ok" if "error" not in r else "failed",
                    None, text)
        elif name == "torchrun":
            a, pr = p["app"], p["probe"]
            row(name, f"torchrun -m irlas_darts, {p['nproc']} process(es)", a["status"], a["seconds"],
                f"world size {a.get('world_size')}, backend {a.get('backend')}, device {a.get('device')}")
            row(name, "process-group probe, 1 process", pr["status"], pr["seconds"],
                f"{pr.get('backend')} all-reduce on {pr.get('device')}: {pr.get('sum')} (want {pr.get('want')})")
    first = [r for r in parts.get("bench", {}).get("rows", []) if r["mode"] == "first" and "error" not in r]
    lines.append("")
    if first:
        r = first[0]
        note = "" if result["device"] == "cuda" else " (a tiny CPU dry run: this figure projects nothing)"
        lines.append(f"Projected 50-epoch DARTS CIFAR-10 search, first order: {r['median_ms']:.0f} ms/step x "
                     f"{CIFAR_SEARCH_IMAGES // r['batch']} steps x {PROJECTED_EPOCHS} epochs = "
                     f"{projected_hours(r['median_ms'], r['batch']):.2f} h (evaluation passes not included){note}")
    else:
        lines.append("Projected 50-epoch DARTS CIFAR-10 search: not available (the first-order step was not measured)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                    help="cuda (the check) or cpu (the same plumbing at a tiny size, for tests)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    ap.add_argument("--json", type=Path, default=Path("gpu_check.json"), help="where the results go")
    ap.add_argument("--budget", type=float, default=TOTAL_BUDGET_S, help="seconds for all parts together")
    ap.add_argument("--algorithms", default=",".join(ALGORITHMS), help="the searches' algorithms (default: all)")
    ap.add_argument("--spaces", default=",".join(SPACES), help="the searches' spaces (default: both)")
    ap.add_argument("--modes", default=",".join(BENCH_MODES), help="the bench's modes (default: all)")
    ap.add_argument("--searches-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--probe-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    algorithms = [a for a in args.algorithms.split(",") if a]
    spaces = [s for s in args.spaces.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    if args.searches_worker:
        searches_worker(args.device, args.work / "searches.jsonl", args.work, algorithms, spaces)
        return 0
    if args.probe_worker:
        probe_worker(args.device, args.work)
        return 0
    selected = [p for p in args.parts.split(",") if p]
    for flag, given, known in (("--parts", selected, PARTS), ("--algorithms", algorithms, ALGORITHMS),
                               ("--spaces", spaces, SPACES), ("--modes", modes, BENCH_MODES)):
        unknown = [g for g in given if g not in known]
        if unknown:
            refuse(f"{flag}: unknown {unknown[0]!r}; choose from {', '.join(known)}")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        refuse("no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine, "
               "or give --device cpu for a tiny dry run of the plumbing")
    sizes = CUDA_SIZES if args.device == "cuda" else CPU_SIZES
    start = time.monotonic()
    result: dict[str, Any] = {"device": args.device, "selected": selected, "parts": {},
                              "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU",
                              "torch": torch.__version__, "sizes": sizes.__dict__}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = Path(tmp)
        for part in PARTS:
            if part not in selected:
                continue
            left = args.budget - (time.monotonic() - start) - 5.0  # 5 s for the table
            if left < 5.0:
                break
            budget = min(sizes.budgets[part], left)
            print(f"gpu_check: {part} (at most {budget:.0f} s)", file=sys.stderr, flush=True)
            if part == "tests":
                result["parts"][part] = run_tests(budget)
            elif part == "searches":
                result["parts"][part] = run_searches(args.device, budget, work, algorithms, spaces)
            elif part == "bench":
                result["parts"][part] = run_bench(args.device, sizes, budget, modes)
            else:
                result["parts"][part] = run_torchrun(args.device, sizes, budget, work)
    result["seconds"] = time.monotonic() - start
    table = build_table(result)
    result["table"] = table
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print(table)
    failed = [p for p, r in result["parts"].items() if r["status"] != "ok"]
    return 1 if failed or len(result["parts"]) < len(selected) else 0


if __name__ == "__main__":
    sys.exit(main())
