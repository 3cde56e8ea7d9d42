"""Does the learned prior help? Plain DARTS (`none`) vs `imitation` vs `irl` over seeds, in both spaces.

Every job is one `irlas-search` run at the shipped defaults plus the suite's overrides, in its own process with one
CPU thread (`--workers` of them side by side); finished jobs are reused, so an interrupted benchmark continues where
it stopped. Each run records the commit it ran on (`commit.txt`), and the report says how many of its rows ran on
which commit. Prints the tables and the target checks, and writes them to `<out>/report.md` (+ `results.json`).

Suites (pick with `--suites`, default: all but `smoke`):
  nb201_fashion  NAS-Bench-201 on Fashion-MNIST downsampled to 14 px (3000 images, 8 channels, 3 x 2 cells,
                 10 epochs), scored on the NAS-Bench-201 CIFAR-10 validation table
  nb201_digits   NAS-Bench-201 on the bundled digits (preset digits_nb201), scored on the same table
  nb201_fashion_resnet  nb201_fashion with the ResNet expert (irl; compared with nb201_fashion's plain searches)
  nb201_fashion_wide  nb201_fashion at NAS-Bench-201's own width, 16 channels: a size no setting was chosen on
  darts_digits   DARTS space on digits (preset digits_darts: 8 channels, 4 cells, 6 epochs): `make search`'s setting
  darts_fashion  DARTS space on Fashion-MNIST at 14 px (3000 images, 8 channels, 4 cells, 6 epochs), none and irl
  darts_fashion_wide  darts_fashion at DARTS' own search width, 16 channels: a size no setting was chosen on
  darts_train    darts_fashion's searches (none, imitation, irl), then every found genotype trained from scratch with
                 one recipe: Fashion-MNIST 14 px, 5000 training images, the 10,000 test images, 10 epochs, 16
                 channels x 5 cells (irlas-eval)
  darts_long     the long search where DARTS drifts to skip connections: digits (400 images), 50 epochs, none and irl
  smoke          a seconds-long run on synthetic data (what the test suite runs)
  nb201_algorithms  nb201_fashion's setting at half the images (1500: each search about a minute on an idle core)
                 for every search algorithm (darts, pc_darts, gdas, drnas) with and without the prior (none,
                 irl): does the prior help on top of the algorithm a user trusts? Also builds and times each found
                 cell's NB201 evaluation network (latency; no training)
  smoke_algorithms  the same, seconds long on synthetic data

Arms: `none`, `imitation` and `irl` at their shipped lambdas; with `--sweep` also the `--sweep-regs` (default
imitation and irl) at x0.3, x3 and x10 of their shipped lambda (the x1 arm is the default one).

    python experiments/prior_benchmark.py                          # everything (hours on 2 cores; see README)
    python experiments/prior_benchmark.py --suites nb201_fashion --sweep --seeds 0-4
    make prior-benchmark ARGS="--suites darts_digits"
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# the table shipped in the package (what irlas-search scores NB201 cells on by default); ../shared/data the fallback
PACKAGED_TABLE = ROOT / "src" / "irlas_darts" / "resources" / "nb201_cifar10_valid.csv"
DEFAULT_TABLE = PACKAGED_TABLE if PACKAGED_TABLE.is_file() else ROOT.parent / "shared" / "data" / "nb201_cifar10_valid.csv"
TABLE_COLUMN = "cifar10_valid_acc"
SWEEP = (0.3, 1.0, 3.0, 10.0)
FASHION_14 = ("+dataset.options.size=14", "dataset.shape=[1,14,14]")  # a quarter of the 28 px search's cost
ALGORITHMS = ("darts", "pc_darts", "gdas", "drnas")
MEASURE = ("evaluate.enabled=true", "evaluate.epochs=0")  # build the found cell's network and time it, no training
NB201_FASHION = (*FASHION_14, "dataset.limit=3000", "space.channels=8", "space.layers=6", "search.epochs=10")
DARTS_FASHION = (*FASHION_14, "dataset.limit=3000", "space.channels=8", "space.layers=4", "search.epochs=6")


def at_width(overrides: tuple[str, ...], channels: int) -> tuple[str, ...]:
    """A suite's overrides with another supernet width: the held-out size checks."""
    return tuple(f"space.channels={channels}" if o.startswith("space.channels=") else o for o in overrides)


@dataclass(frozen=True)
class Suite:
    space: str
    dataset: str
    overrides: tuple[str, ...] = ()
    arms: tuple[str, ...] = ("none", "imitation", "irl")
    sweep: bool = True  # whether --sweep adds the lambda multiples to this suite
    algorithms: tuple[str, ...] = ()  # non-empty: one arm per algorithm x regularizer, named "<algorithm>/<reg>"
    train: tuple[str, ...] = ()  # non-empty: after the search, irlas-eval trains the found cells with these overrides


SUITES: dict[str, Suite] = {
    "nb201_fashion": Suite("nb201", "fashion_mnist", NB201_FASHION),
    "nb201_digits": Suite("nb201", "digits"),
    "nb201_fashion_resnet": Suite("nb201", "fashion_mnist", (*NB201_FASHION, "expert=resnet"), arms=("irl",),
                                  sweep=False),
    "nb201_fashion_wide": Suite("nb201", "fashion_mnist", at_width(NB201_FASHION, 16)),
    "darts_digits": Suite("darts", "digits"),
    "darts_fashion": Suite("darts", "fashion_mnist", DARTS_FASHION, arms=("none", "irl")),
    "darts_fashion_wide": Suite("darts", "fashion_mnist", at_width(DARTS_FASHION, 16), arms=("none", "irl")),
    "darts_train": Suite("darts", "fashion_mnist", DARTS_FASHION, sweep=False, train=(
        "dataset=fashion_mnist", *FASHION_14, "dataset.limit=5000", "eval=fashion_mnist", "eval.epochs=10",
        "eval.darts_channels=16", "eval.darts_layers=5")),
    "darts_long": Suite("darts", "digits", ("dataset.limit=400", "search.epochs=50"), arms=("none", "irl"),
                        sweep=False),
    "smoke": Suite("nb201", "synthetic", ("search.epochs=2",), sweep=False),
    "nb201_algorithms": Suite("nb201", "fashion_mnist", (*FASHION_14, "dataset.limit=1500", "space.channels=8",
                                                         "space.layers=6", "search.epochs=10", *MEASURE),
                              arms=("none", "irl"), sweep=False, algorithms=ALGORITHMS),
    "smoke_algorithms": Suite("nb201", "synthetic", ("search.epochs=2", *MEASURE), arms=("none", "irl"), sweep=False,
                              algorithms=ALGORITHMS),
}


@dataclass
class Job:
    suite: str
    arm: str  # regularizer name, or name@multiple for a sweep arm
    seed: int
    overrides: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.arm}/seed{self.seed}"


def shipped_lambda(name: str) -> float:
    return float(yaml.safe_load((ROOT / "conf" / "regularizer" / f"{name}.yaml").read_text())["lambda"])


def make_jobs(suites: list[str], seeds: list[int], sweep: tuple[str, ...], table: Path | None) -> list[Job]:
    jobs = []
    for name in suites:
        suite = SUITES[name]
        base = [f"space={suite.space}", f"dataset={suite.dataset}", *suite.overrides]
        if suite.space == "nb201" and table is not None:
            base.append(f"benchmark.table={table}")
        arms: list[tuple[str, str, float | None]] = [(arm, arm, None) for arm in suite.arms]
        if suite.sweep:
            arms += [(f"{reg}@x{m:g}", reg, m) for reg in sweep for m in SWEEP if m != 1.0]
        if suite.algorithms:
            arms = [(f"{alg}/{arm}", reg, m) for alg in suite.algorithms for arm, reg, m in arms]
        suite_jobs = []
        for arm, reg, multiple in arms:
            extra = [f"regularizer={reg}"]
            if "/" in arm:
                extra.append(f"algorithm={arm.split('/')[0]}")
            if multiple is not None:
                extra.append(f"regularizer.lambda={shipped_lambda(reg) * multiple:.6g}")
            suite_jobs += [Job(name, arm, s, base + extra + [f"seed={s}"]) for s in seeds]
        jobs += sorted(suite_jobs, key=lambda j: j.seed)  # seeds outermost: a partial run covers every arm
    return jobs


def run_job(job: Job, out: Path) -> tuple[Job, dict[str, Any] | None, str]:
    run_dir = out / "runs" / job.key
    metrics = run_dir / "metrics.json"
    if metrics.is_file():
        return job, json.loads(metrics.read_text()), "cached"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "commit.txt").write_text(measured_at() + "\n")  # a cached row keeps the code it ran on
    cmd = [sys.executable, "-m", "irlas_darts", *job.overrides, f"hydra.run.dir={run_dir}", "runtime.threads=1",
           "logger.progress=false", "resume=true"]
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not metrics.is_file():
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return job, None, f"failed (exit {proc.returncode}): {last}"
    return job, json.loads(metrics.read_text()), "ran"


def train_job(job: Job, out: Path) -> tuple[dict[str, Any] | None, str]:
    """Train the job's found genotype from scratch (``Suite.train``, one recipe for every cell); cached like searches."""
    run_dir = out / "runs" / job.key
    train_dir = run_dir / "trained"
    metrics = train_dir / "metrics.json"
    if metrics.is_file():
        return json.loads(metrics.read_text()), "cached"
    seed = job.key.rpartition("seed")[2]
    cmd = [sys.executable, "-c", "from irlas_darts.app.eval_app import main; main()", f"genotype={run_dir}",
           *SUITES[job.suite].train, f"seed={seed}", f"hydra.run.dir={train_dir}", "runtime.threads=1",
           "logger.progress=false", "resume=true"]
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not metrics.is_file():
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return None, f"training failed (exit {proc.returncode}): {last}"
    return json.loads(metrics.read_text()), "ran"


def search_and_train(job: Job, out: Path) -> tuple[Job, dict[str, Any] | None, str]:
    job, metrics, status = run_job(job, out)
    if metrics is not None and SUITES[job.suite].train:
        trained, status = train_job(job, out)
        metrics = None if trained is None else dict(metrics, trained=trained)
    return job, metrics, status


def collapsed_epochs(run_dir: Path, space: str, cell: str) -> int:
    """Epochs whose derived cell had collapse_threshold or more parameter-free edges (history.csv)."""
    from irlas_darts.spaces import create_space
    from irlas_darts.topology import collapse_threshold

    threshold = collapse_threshold(create_space(space))
    with (run_dir / "history.csv").open() as fh:
        return sum(int(row[f"param_free_{cell}"]) >= threshold for row in csv.DictReader(fh))


def has_shortcut(space_name: str, genotype_text: str, cell: str) -> bool:
    """Read off the genotype (not metrics.json), so runs made before the statistic existed are judged the same way."""
    from irlas_darts.spaces import create_space
    from irlas_darts.topology import cell_statistics

    space = create_space(space_name)
    return bool(cell_statistics(space, space.genotype_from_text(genotype_text), cell)["shortcut"])


def settled_epoch(run_dir: Path) -> int:
    """The epoch (from 1) from which the derived cell stays the final one: when the search made its choice."""
    with (run_dir / "history.csv").open() as fh:
        cells = [row["genotype"] for row in csv.DictReader(fh)]
    changed = [i for i in range(len(cells)) if cells[i] != cells[-1]]
    return (changed[-1] + 2) if changed else 1


def summarise(metrics: dict[str, Any], params: dict[str, float], run_dir: Path) -> dict[str, Any]:
    cell = "normal" if "normal" in metrics["cell_stats"] else next(iter(metrics["cell_stats"]))
    stats = metrics["cell_stats"][cell]
    row = {
        "param_free": stats["param_free"],
        "collapsed": bool(stats["collapsed"]),
        "distance": metrics["topology"]["distance_to_expert"],
        "val_acc": 100 * metrics["val_acc"],
        "eval_bn": metrics.get("eval_bn", "running"),  # runs made before search.eval_bn measured with running stats
        "seconds": metrics["search_seconds"],
        "genotype": metrics["genotype_text"],
        "collapsed_epochs": collapsed_epochs(run_dir, metrics["space"], cell),
        "epochs": metrics["epochs"],
        "latency_ms": (metrics.get("eval", {}).get("latency_ms") or {}).get("batch_1", math.nan),
        "shortcut": has_shortcut(metrics["space"], metrics["genotype_text"], cell),
        "settled": settled_epoch(run_dir),
    }
    if "trained" in metrics:
        trained = metrics["trained"]
        row.update(test_acc=100 * trained["test_acc"], train_params_m=trained["params"] / 1e6,
                   latency_ms=trained["latency_ms"]["batch_1"])
    if "benchmark" in metrics:
        row["bench"] = metrics["benchmark"][TABLE_COLUMN]
        row["params_m"] = params.get(metrics.get("arch_str", ""), math.nan)
    return row


def read_params(table: Path | None) -> dict[str, float]:
    if table is None or not table.is_file():
        return {}
    with table.open() as fh:
        return {row["arch_str"]: float(row["params_m"]) for row in csv.DictReader(fh) if "params_m" in row}


# --- tables -----------------------------------------------------------------------------------------------------
def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


def only_regularizers(jobs: list[Job], regs: set[str]) -> list[Job]:
    """The jobs whose arm is one of ``regs``' (``darts/irl@x3`` is ``irl``'s); all of them when ``regs`` is empty."""
    return [j for j in jobs if not regs or j.arm.rpartition("/")[2].partition("@x")[0] in regs]


def arm_order(arm: str) -> tuple:
    alg, _, rest = arm.rpartition("/")
    reg, _, mult = rest.partition("@x")
    alg_rank = ALGORITHMS.index(alg) if alg in ALGORITHMS else (-1 if not alg else len(ALGORITHMS))
    return (alg_rank, alg, ["none", "imitation", "irl"].index(reg), float(mult or 1.0))


def suite_table(suite: str, rows: dict[str, dict[int, dict]], seeds: list[int]) -> list[str]:
    nb201 = SUITES[suite].space == "nb201"
    trained = bool(SUITES[suite].train)
    key, label = ("bench", "NB201 CIFAR-10 valid acc") if nb201 else ("param_free", "parameter-free normal edges")
    if trained:
        key, label = "test_acc", "test accuracy (%) of the found cells trained from scratch"
    numeric = nb201 or trained
    head = ["arm", *[f"seed {s}" for s in seeds], "mean ± std", "worst"]
    algorithms = bool(SUITES[suite].algorithms)
    extra = (["params (M)", "distance", "supernet acc"] if nb201
             else ["collapsed", "epochs collapsed (per seed)", "distance", "supernet acc"])
    if algorithms:  # the collapse measure, the found cell's latency and the search's time too
        extra[1:1] = ["param-free edges", "collapsed", "latency (ms)"]
        extra.append("search (s)")
    if trained:
        extra = ["params (M)", "latency b=1 (ms)", "param-free edges", "distance"]
    extra += ["shortcut", "final cell from epoch (per seed)"]
    lines = [f"### {suite}: {label} per seed", "", "| " + " | ".join(head + extra) + " |",
             "|" + "---|" * (len(head) + len(extra))]
    for arm in sorted(rows, key=arm_order):
        by_seed = rows[arm]
        vals = [by_seed[s][key] for s in seeds if s in by_seed]
        cells = [f"{by_seed[s][key]:.2f}" if numeric and s in by_seed else (str(by_seed[s][key]) if s in by_seed else "–")
                 for s in seeds]
        worst = (f"{min(vals):.2f}" if numeric else str(max(vals))) if vals else "–"
        present = [by_seed[s] for s in seeds if s in by_seed]
        if trained:
            tail = [mean_std([r["train_params_m"] for r in present]), mean_std([r["latency_ms"] for r in present]),
                    mean_std([r["param_free"] for r in present]), mean_std([r["distance"] for r in present])]
        elif nb201:
            tail = [mean_std([r["params_m"] for r in present]), mean_std([r["distance"] for r in present])]
            if algorithms:
                tail[1:1] = [mean_std([r["param_free"] for r in present]),
                             f"{sum(r['collapsed'] for r in present)} of {len(present)}",
                             mean_std([r["latency_ms"] for r in present if not math.isnan(r["latency_ms"])])]
        else:
            tail = [f"{sum(r['collapsed'] for r in present)} of {len(present)}",
                    " / ".join(f"{r['collapsed_epochs']}" for r in present) + f" of {present[0]['epochs']}",
                    mean_std([r["distance"] for r in present])]
        if not trained:
            tail.append(mean_std([r["val_acc"] for r in present]))
        if algorithms:
            tail.append(mean_std([r["seconds"] for r in present]))
        tail += [f"{sum(r.get('shortcut', False) for r in present)} of {len(present)}",
                 " / ".join(str(r.get("settled", "–")) for r in present) + f" of {present[0]['epochs']}"]
        lines.append("| " + " | ".join([arm, *cells, mean_std(vals), worst, *tail]) + " |")
    if not trained:
        lines += ["", supernet_acc_note([r for by_seed in rows.values() for r in by_seed.values()])]
    return lines + [""]


def supernet_acc_note(rows: list[dict]) -> str:
    """Which BatchNorm statistics the "supernet acc" column was measured with (``search.eval_bn``)."""
    counts = collections.Counter(r["eval_bn"] for r in rows)
    if len(counts) == 1:
        return f"supernet acc: BatchNorm with the {next(iter(counts))} statistics (`search.eval_bn`)."
    return ("supernet acc: **mixed measures**, " + ", ".join(f"{n} runs with {k} statistics" for k, n in
                                                             sorted(counts.items()))
            + " (`search.eval_bn`; runs made before it used the running ones): compare within one measure.")


def checks(results: dict[str, dict[str, dict[int, dict]]], seeds: list[int]) -> list[tuple[str, bool]]:
    """The issue's targets, each a (statement, holds) pair, for the suites that ran with every seed."""
    out: list[tuple[str, bool]] = []

    def full(suite: str, arm: str) -> dict[int, dict] | None:
        by_seed = results.get(suite, {}).get(arm, {})
        return by_seed if all(s in by_seed for s in seeds) else None

    def mean(by_seed: dict[int, dict], key: str) -> float:
        return statistics.mean(by_seed[s][key] for s in seeds)

    def worst(by_seed: dict[int, dict], key: str) -> float:
        return min(by_seed[s][key] for s in seeds)

    for suite in ("nb201_fashion", "nb201_digits"):
        none, irl, imi = full(suite, "none"), full(suite, "irl"), full(suite, "imitation")
        if not irl:
            continue
        floor = 91.0 if suite == "nb201_fashion" else 90.8
        out.append((f"{suite}: irl mean >= {floor} ({mean(irl, 'bench'):.2f})", mean(irl, "bench") >= floor))
        if suite == "nb201_fashion":
            out.append((f"{suite}: no irl seed below 90.5 (worst {worst(irl, 'bench'):.2f})",
                        worst(irl, "bench") >= 90.5))
            imitations = {a: full(suite, a) for a in ["imitation", *[f"imitation@x{m:g}" for m in SWEEP if m != 1.0]]}
            best = max(((mean(b, "bench"), a) for a, b in imitations.items() if b), default=None)
            if best:
                out.append((f"{suite}: irl - best imitation arm ({best[1]}) >= +0.5 "
                            f"({mean(irl, 'bench') - best[0]:+.2f})", mean(irl, "bench") - best[0] >= 0.5))
        if none:
            out.append((f"{suite}: irl >= none on the mean ({mean(irl, 'bench'):.2f} vs {mean(none, 'bench'):.2f})",
                        mean(irl, "bench") >= mean(none, "bench")))
            out.append((f"{suite}: irl >= none on the worst seed ({worst(irl, 'bench'):.2f} vs "
                        f"{worst(none, 'bench'):.2f})", worst(irl, "bench") >= worst(none, "bench")))
            for m in SWEEP:
                arm = full(suite, f"irl@x{m:g}") if m != 1.0 else None
                if arm:
                    out.append((f"{suite}: irl x{m:g} >= none ({mean(arm, 'bench'):.2f} vs {mean(none, 'bench'):.2f})",
                                mean(arm, "bench") >= mean(none, "bench")))
    resnet, none = full("nb201_fashion_resnet", "irl"), full("nb201_fashion", "none")
    if resnet and none:  # `none` ignores the expert: nb201_fashion's plain searches are the comparison
        below = [s for s in seeds if resnet[s]["bench"] < none[s]["bench"]]
        out.append((f"nb201_fashion_resnet: irl >= none on every seed (below on {len(below)} of {len(seeds)})",
                    not below))
        out.append((f"nb201_fashion_resnet: irl mean >= 90.5 ({mean(resnet, 'bench'):.2f})",
                    mean(resnet, "bench") >= 90.5))
    for alg in ALGORITHMS:
        arm = full("nb201_algorithms", f"{alg}/irl")
        if arm:
            n = sum(arm[s]["collapsed"] for s in seeds)
            out.append((f"nb201_algorithms: {alg}/irl mean >= 90.8 ({mean(arm, 'bench'):.2f}), none collapsed ({n})",
                        mean(arm, "bench") >= 90.8 and n == 0))
    none, imi, irl = (full("darts_train", a) for a in ("none", "imitation", "irl"))
    if none and irl:
        out.append((f"darts_train: irl mean >= none + 0.5 ({mean(irl, 'test_acc'):.2f} vs "
                    f"{mean(none, 'test_acc'):.2f})", mean(irl, "test_acc") >= mean(none, "test_acc") + 0.5))
        out.append((f"darts_train: irl worst seed >= none's ({worst(irl, 'test_acc'):.2f} vs "
                    f"{worst(none, 'test_acc'):.2f})", worst(irl, "test_acc") >= worst(none, "test_acc")))
        if imi:
            out.append((f"darts_train: irl mean >= imitation ({mean(irl, 'test_acc'):.2f} vs "
                        f"{mean(imi, 'test_acc'):.2f})", mean(irl, "test_acc") >= mean(imi, "test_acc")))
    for suite in ("darts_digits", "darts_fashion", "darts_long"):
        none = full(suite, "none")
        arms = {a: full(suite, a) for a in ["irl", *[f"irl@x{m:g}" for m in SWEEP if m != 1.0]]}
        for arm, by_seed in arms.items():
            if by_seed:
                n = sum(by_seed[s]["collapsed"] for s in seeds)
                out.append((f"{suite}: {arm} collapsed normal cells: {n} of {len(seeds)}", n == 0))
        irl = arms["irl"]
        if none and irl:
            closer = [irl[s]["distance"] < none[s]["distance"] for s in seeds]
            out.append((f"{suite}: irl closer to the expert than none on {sum(closer)} of {len(seeds)} seeds",
                        all(closer)))
            measures = {r["eval_bn"] for by_seed in (none, irl) for r in by_seed.values()}
            if len(measures) == 1:
                gap = mean(none, "val_acc") - mean(irl, "val_acc")
                out.append((f"{suite}: irl supernet acc within 1 point of none (gap {gap:+.2f})", gap <= 1.0))
            else:
                out.append((f"{suite}: irl supernet acc within 1 point of none: not comparable, the runs used both "
                            "running and batch statistics (search.eval_bn); run the older arm again", False))
        if suite == "darts_long" and none:
            n = sum(none[s]["collapsed"] for s in seeds)
            out.append((f"{suite}: none ends collapsed on most seeds ({n} of {len(seeds)})", n > len(seeds) / 2))
            n = sum(none[s]["collapsed_epochs"] > 0 for s in seeds)
            out.append((f"{suite}: none passes through a collapsed cell on most seeds ({n} of {len(seeds)})",
                        n > len(seeds) / 2))
            if irl:
                n = sum(irl[s]["collapsed_epochs"] > 0 for s in seeds)
                out.append((f"{suite}: irl never collapsed at any epoch on any seed ({n} of {len(seeds)} did)", n == 0))
    return out


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    return seeds


def measured_at() -> str:
    """The commit the searches run on (``+changes`` when the work tree differs from it): tables name their code."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
    except OSError:  # no git on this machine
        return "unknown commit"
    if head.returncode != 0:
        return "unknown commit"
    return f"commit {head.stdout.strip()}{' +changes' if dirty else ''}"


def commits_of(out: Path, jobs: list) -> str:
    """The commits the report's rows ran on, read from each run's ``commit.txt`` (runs from before it: unknown)."""
    seen: dict[str, int] = {}
    for job in jobs:
        stamp = out / "runs" / job.key / "commit.txt"
        key = stamp.read_text().strip() if stamp.is_file() else "an unrecorded commit"
        seen[key] = seen.get(key, 0) + 1
    return "; ".join(f"{n} at {c}" for c, n in seen.items()) or "no runs"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suites", default=",".join(s for s in SUITES if s != "smoke"))
    ap.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,2,5")
    ap.add_argument("--sweep", action="store_true", help="add --sweep-regs at x0.3, x3, x10 of the shipped lambda")
    ap.add_argument("--sweep-regs", default="imitation,irl", help="regularizers the sweep covers")
    ap.add_argument("--regs", default="",
                    help="only the arms of these regularizers, e.g. irl: re-run what a change to the prior touches")
    ap.add_argument("--workers", type=int, default=2, help="jobs side by side, one CPU thread each")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "prior")
    ap.add_argument("--table", type=Path, default=DEFAULT_TABLE, help="NAS-Bench-201 CIFAR-10 table (CSV)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target check fails")
    ap.add_argument("--cached-only", action="store_true",
                    help="run nothing: report the jobs that have finished (e.g. while a long benchmark still runs)")
    args = ap.parse_args()

    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        print(f"prior_benchmark: error: unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    table = args.table if args.table.is_file() else None
    if table is None and any(SUITES[s].space == "nb201" and SUITES[s].dataset != "synthetic" for s in suites):
        print(f"prior_benchmark: error: --table {args.table} not found; NAS-Bench-201 suites are scored on it",
              file=sys.stderr)
        return 2
    seeds = parse_seeds(args.seeds)
    sweep = tuple(r.strip() for r in args.sweep_regs.split(",") if r.strip()) if args.sweep else ()
    jobs = make_jobs(suites, seeds, sweep, table)
    regs = {r.strip() for r in args.regs.split(",") if r.strip()}
    jobs = only_regularizers(jobs, regs)
    if args.cached_only:
        jobs = [j for j in jobs if (args.out / "runs" / j.key / "metrics.json").is_file()
                and (not SUITES[j.suite].train or (args.out / "runs" / j.key / "trained" / "metrics.json").is_file())]
    params = read_params(table)
    args.out.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    started = time.perf_counter()
    results: dict[str, dict[str, dict[int, dict]]] = {}
    failures = []
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [pool.submit(search_and_train, job, args.out) for job in jobs]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="searches", unit="run"):
            job, metrics, status = fut.result()
            if metrics is None:
                failures.append(f"{job.key}: {status}")
                continue
            row = summarise(metrics, params, args.out / "runs" / job.key)
            results.setdefault(job.suite, {}).setdefault(job.arm, {})[job.seed] = row
    wall = time.perf_counter() - started

    lines = ["# Prior benchmark", "",
             f"`python experiments/prior_benchmark.py --suites {','.join(suites)} --seeds {args.seeds}"
             f"{' --sweep --sweep-regs ' + ','.join(sweep) if sweep else ''}"
             f"{' --regs ' + ','.join(sorted(regs)) if regs else ''} --workers {args.workers}`: {len(jobs)} searches, "
             f"{wall / 60:.1f} min wall on this machine ({args.workers} parallel jobs, 1 thread each; cached jobs "
             f"cost nothing); runs: {commits_of(args.out, jobs)}.", ""]
    for suite in suites:
        if suite in results:
            lines += suite_table(suite, results[suite], seeds)
    verdicts = checks(results, seeds)
    if verdicts:
        lines += ["### Targets", ""] + [f"- [{'x' if ok else ' '}] {text}" for text, ok in verdicts] + [""]
    if failures:
        lines += ["### Failed jobs", ""] + [f"- {f}" for f in failures] + [""]
    report = "\n".join(lines)
    print(report)
    (args.out / "report.md").write_text(report)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    if failures:
        return 1
    return 1 if args.strict and not all(ok for _, ok in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
