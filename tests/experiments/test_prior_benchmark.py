"""experiments/prior_benchmark.py end to end on its seconds-long `smoke` suite: the table holds what the runs wrote,
finished runs are reused, and bad input is one line with exit 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "prior_benchmark.py"
TABLE = ROOT.parent / "shared" / "data" / "nb201_cifar10_valid.csv"


def bench(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WANDB_MODE="disabled")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(not TABLE.is_file(), reason="needs ../shared/data beside the checkout (CI lays it there)")
def test_smoke_suite_reports_what_the_runs_wrote(tmp_path):
    # the three arms' searches side by side (the default is 2 workers: two rounds of mostly imports)
    res = bench("--suites", "smoke", "--seeds", "0", "--workers", "3", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    results = json.loads((tmp_path / "results.json").read_text())["smoke"]
    assert sorted(results) == ["imitation", "irl", "none"]
    for arm, by_seed in results.items():
        metrics = json.loads((tmp_path / "runs" / "smoke" / arm / "seed0" / "metrics.json").read_text())
        row = by_seed["0"]
        assert row["bench"] == metrics["benchmark"]["cifar10_valid_acc"]
        assert row["param_free"] == metrics["cell_stats"]["cell"]["param_free"]
        assert row["collapsed"] == metrics["cell_stats"]["cell"]["collapsed"]
        assert row["val_acc"] == pytest.approx(100 * metrics["val_acc"])
        assert f"| {arm} | {row['bench']:.2f} |" in res.stdout
    report = (tmp_path / "report.md").read_text()
    assert report.strip() == res.stdout.strip()
    again = bench("--suites", "smoke", "--seeds", "0", "--out", str(tmp_path))  # every run cached: same table
    assert again.returncode == 0 and again.stdout.split("###", 1)[1] == res.stdout.split("###", 1)[1]


def test_unknown_suite_is_one_line():
    res = bench("--suites", "cifar_forever")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "cifar_forever" in res.stderr
