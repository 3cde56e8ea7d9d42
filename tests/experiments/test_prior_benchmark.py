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
TABLE = ROOT / "src" / "irlas_darts" / "resources" / "nb201_cifar10_valid.csv"  # the packaged table


def bench(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WANDB_MODE="disabled")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(not TABLE.is_file(), reason="needs the packaged NAS-Bench-201 table")
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
        assert row["eval_bn"] == metrics["eval_bn"] == "batch"
        assert f"| {arm} | {row['bench']:.2f} |" in res.stdout
    report = (tmp_path / "report.md").read_text()
    assert report.strip() == res.stdout.strip()
    assert "supernet acc: BatchNorm with the batch statistics" in report
    # every row names the code it ran on (this checkout: a commit, perhaps with uncommitted changes)
    stamps = {(tmp_path / "runs" / "smoke" / arm / "seed0" / "commit.txt").read_text().strip() for arm in results}
    assert len(stamps) == 1 and f"runs: 3 at {stamps.pop()}." in report
    again = bench("--suites", "smoke", "--seeds", "0", "--out", str(tmp_path))  # every run cached: same table
    assert again.returncode == 0 and again.stdout.split("###", 1)[1] == res.stdout.split("###", 1)[1]


def test_unknown_suite_is_one_line():
    res = bench("--suites", "cifar_forever")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "cifar_forever" in res.stderr


def test_settled_epoch_is_when_the_final_cell_first_stayed(script, tmp_path):
    pb = script("prior_benchmark")
    (tmp_path / "history.csv").write_text("epoch,genotype\n0,a\n1,b\n2,a\n3,c\n4,c\n")
    assert pb.settled_epoch(tmp_path) == 4  # epochs counted from 1: c from the 4th epoch on
    (tmp_path / "history.csv").write_text("epoch,genotype\n0,c\n1,c\n")
    assert pb.settled_epoch(tmp_path) == 1


def test_regs_keeps_only_those_regularizers_arms(script):
    pb = script("prior_benchmark")
    jobs = pb.make_jobs(["nb201_fashion", "smoke_algorithms"], [0, 1], ("imitation", "irl"), None)
    kept = pb.only_regularizers(jobs, {"irl"})
    assert {j.arm for j in kept} == {"irl", "irl@x0.3", "irl@x3", "irl@x10", *(f"{a}/irl" for a in pb.ALGORITHMS)}
    assert len(kept) == 2 * (4 + len(pb.ALGORITHMS))  # every seed of each
    assert pb.only_regularizers(jobs, set()) == jobs


def test_darts_train_recipe_meets_the_floor_it_promises(script):
    """darts_train trains every found cell with one recipe: >= 5000 training images, >= 10 epochs, >= 16 channels x
    5 cells, on Fashion-MNIST at 14 px (its 10,000 test images are the test set)."""
    pb = script("prior_benchmark")
    suite = pb.SUITES["darts_train"]
    assert suite.space == "darts" and suite.arms == ("none", "imitation", "irl")
    assert suite.overrides == pb.SUITES["darts_fashion"].overrides  # darts_fashion's searches
    keys = dict(o.split("=", 1) for o in suite.train if "=" in o)
    assert keys["dataset"] == "fashion_mnist" and keys["+dataset.options.size"] == "14"
    assert int(keys["dataset.limit"]) >= 5000 and int(keys["eval.epochs"]) >= 10
    assert int(keys["eval.darts_channels"]) >= 16 and int(keys["eval.darts_layers"]) >= 5


@pytest.mark.parametrize("wide, base", [("nb201_fashion_wide", "nb201_fashion"), ("darts_fashion_wide", "darts_fashion")])
def test_a_wide_suite_is_its_base_suite_at_16_channels(script, wide, base):
    """The held-out size checks change the width and nothing else, so their tables read against the base suite's."""
    pb = script("prior_benchmark")
    w, b = pb.SUITES[wide], pb.SUITES[base]
    assert (w.space, w.dataset, w.arms, w.algorithms, w.train) == (b.space, b.dataset, b.arms, b.algorithms, b.train)
    assert [(x, y) for x, y in zip(b.overrides, w.overrides) if x != y] == [("space.channels=8", "space.channels=16")]
    assert len(w.overrides) == len(b.overrides)


def test_supernet_accuracies_are_compared_only_within_one_measure(script):
    """Runs made before ``search.eval_bn`` (no key in metrics.json: running statistics) are not set against runs
    with batch statistics: the table says the column mixes measures, and the supernet-accuracy check says why it
    cannot hold instead of comparing them."""
    pb = script("prior_benchmark")
    seeds = [0, 1]

    def row(acc, bn):
        return {"param_free": 2, "collapsed": False, "distance": 1.0, "val_acc": acc, "eval_bn": bn, "seconds": 1.0,
                "collapsed_epochs": 0, "epochs": 6, "shortcut": True, "settled": 6}

    def check(none_bn, irl_bn):
        results = {"darts_digits": {"none": {s: row(96.0, none_bn) for s in seeds},
                                    "irl": {s: {**row(90.0, irl_bn), "distance": 0.5} for s in seeds}}}
        return next((text, ok) for text, ok in pb.checks(results, seeds) if "supernet acc" in text)

    assert check("running", "running") == ("darts_digits: irl supernet acc within 1 point of none (gap +6.00)", False)
    text, ok = check("running", "batch")
    assert not ok and "not comparable" in text and "gap" not in text
    mixed = pb.suite_table("darts_digits", {"none": {s: row(96.0, "running") for s in seeds},
                                            "irl": {s: row(95.5, "batch") for s in seeds}}, seeds)
    assert any("mixed measures" in line and "2 runs with batch statistics, 2 runs with running" in line
               for line in mixed)
