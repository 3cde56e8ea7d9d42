"""Train the cells a `darts_train` benchmark found again, with other training seeds: how much of a difference between
arms is the cells, and how much the one training run each cell got.

Reads the genotypes recorded in a results JSON of ``experiments/prior_benchmark.py`` (``benchmarks/prior/
darts_train_results.json`` by default), trains each with the suite's own recipe (``SUITES["darts_train"].train``:
``irlas-eval``, Fashion-MNIST 14 px, 5000 images, 10 epochs, 16 channels x 5 cells) at training seed
``search seed + 100 k`` for each replicate ``k``, one thread per job, jobs side by side; then prints, per arm and
search seed, the test accuracy of every training run (the recorded one first) and their mean, and per arm the mean
± std over search seeds of those means and the worst. Jobs are cached in ``--out`` like the benchmark's.

    python experiments/retrain_found_cells.py --replicates 2 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from prior_benchmark import SUITES  # noqa: E402  (the recipe, shared)

from irlas_darts.spaces import genotype_from_text  # noqa: E402

ARMS = ("none", "imitation", "irl")


def train(genotype_text: str, seed: int, run_dir: Path) -> float | None:
    """Test accuracy (%) of ``genotype_text`` trained with the darts_train recipe at training seed ``seed``."""
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        genotype = run_dir / "genotype.json"
        genotype.write_text(json.dumps(genotype_from_text(genotype_text).to_json()))
        cmd = [sys.executable, "-c", "from irlas_darts.app.eval_app import main; main()", f"genotype={genotype}",
               *SUITES["darts_train"].train, f"seed={seed}", f"hydra.run.dir={run_dir}", "runtime.threads=1",
               "logger.progress=false"]
        env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not metrics.is_file():
            print(f"failed: {run_dir}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
            return None
    return round(100 * json.loads(metrics.read_text())["test_acc"], 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "prior" / "darts_train_results.json")
    p.add_argument("--replicates", type=int, default=2, help="extra training runs per found cell")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "retrain" / "runs")
    args = p.parse_args()
    found = json.loads(args.results.read_text())["darts_train"]
    arms = [a for a in ARMS if a in found]
    jobs = [(arm, int(s), k) for k in range(1, args.replicates + 1) for arm in arms for s in sorted(found[arm])]
    with ThreadPoolExecutor(args.workers) as pool:
        accs = dict(zip(jobs, pool.map(
            lambda j: train(found[j[0]][str(j[1])]["genotype"], j[1] + 100 * j[2],
                            args.out / j[0] / f"seed{j[1]}" / f"train{j[1] + 100 * j[2]}"), jobs)))
    print(f"| arm | {' | '.join(f'seed {s}' for s in sorted(int(s) for s in found[arms[0]]))} | mean ± std | worst |")
    print("|---|" + "---|" * (len(found[arms[0]]) + 2))
    for arm in arms:
        cells, means = [], []
        for s in sorted(int(s) for s in found[arm]):
            runs = [found[arm][str(s)]["trained"]["test_acc"] if "trained" in found[arm][str(s)]
                    else found[arm][str(s)]["test_acc"]]
            runs += [accs[(arm, s, k)] for k in range(1, args.replicates + 1)]
            runs = [r for r in runs if r is not None]
            means.append(statistics.mean(runs))
            cells.append(f"{means[-1]:.2f} ({' / '.join(f'{r:.2f}' for r in runs)})")
        spread = statistics.stdev(means) if len(means) > 1 else 0.0
        print(f"| {arm} | {' | '.join(cells)} | {statistics.mean(means):.2f} ± {spread:.2f} | "
              f"{min(means):.2f} |")


if __name__ == "__main__":
    main()
