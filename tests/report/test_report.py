"""irlas-report on a hand-written sweep: the table's numbers are the numbers the jobs wrote, absent jobs are listed,
report.md and the PNGs exist, and the command's exit codes."""

import csv
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from irlas_darts.app.report_app import main
from irlas_darts.report import build_report, format_stat, write_report
from irlas_darts.report.sweep import BASIC_SWEEPER, sweep_job_overrides
from irlas_darts.spaces import NB201Genotype, published_genotype

REGS = ("none", "irl")
SEEDS = (0, 1, 2)
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ARCH_2 = "|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_multirun(root: Path, task: list[str], params: dict | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({"hydra": {"overrides": {"hydra": ["hydra.mode=MULTIRUN"], "task": task},
                                               "sweeper": {"_target_": BASIC_SWEEPER, "params": params}},
                                     "seed": 0}), root / "multirun.yaml")


def write_job(root: Path, num: int, reg: str, seed: int, *, space: str = "nb201", finished: bool = True,
              latency: bool = True, genotype=None, algorithm: str | None = None) -> dict:
    """One job dir in the output contract's format; returns the numbers written, for the test to recompute."""
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    cfg = {"space": {"name": space}, "dataset": {"name": "synthetic"}, "regularizer": {"name": reg}, "seed": seed,
           "search": {"epochs": 3}}
    if algorithm is not None:  # runs made before the algorithm group have none
        cfg["algorithm"] = {"name": algorithm}
    OmegaConf.save(OmegaConf.create(cfg), job / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create([f"regularizer={reg}", f"seed={seed}"]), job / ".hydra" / "overrides.yaml")
    if not finished:
        return {}
    rng = np.random.default_rng(100 + num)
    genotype = genotype or NB201Genotype.from_arch_str(ARCH if seed % 2 == 0 else ARCH_2)
    cells = genotype.cell_types
    vals = {
        "val_acc": float(rng.uniform(0.5, 0.9)), "test_acc": float(rng.uniform(0.6, 0.95)),
        "bench": float(rng.uniform(85, 94)), "params": int(rng.integers(100_000, 900_000)),
        "latency": float(rng.uniform(1, 5)), "seconds": float(rng.uniform(10, 60)),
        "distance": None if reg == "none" else float(rng.uniform(0, 2)),
        "skips": {c: int(rng.integers(0, 4)) for c in cells}, "depth": {c: int(rng.integers(0, 4)) for c in cells},
        "free": {c: int(rng.integers(0, 7)) for c in cells},
    }
    alpha_shape = (6, 5) if space == "nb201" else (14, 8)
    metrics = {
        "val_acc": vals["val_acc"], "seed": seed, "epochs": 3, "search_seconds": vals["seconds"], "space": space,
        "dataset": "synthetic", "regularizer": reg, "genotype": genotype.to_json(), "genotype_text": genotype.to_text(),
        "topology": {"mu": [0.1], "mu_expert": [0.2], "distance_to_expert": vals["distance"], "F": None},
        "cell_stats": {c: {"skip_count": vals["skips"][c], "conv_depth": vals["depth"][c],
                           "param_free": vals["free"][c], "collapsed": vals["free"][c] >= 4} for c in cells},
        "benchmark": {"cifar10": vals["bench"]},
        "alphas": {c: rng.normal(size=alpha_shape).tolist() for c in cells},
    }
    vals["percentile"] = float(rng.uniform(0, 100))
    metrics["benchmark_percentile"] = {"cifar10": vals["percentile"]}
    (job / "metrics.json").write_text(json.dumps(metrics))
    with open(job / "history.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["epoch", "train_loss", "val_acc", "distance_to_expert", "genotype"])
        w.writeheader()
        for epoch in (1, 2, 3):
            d = "" if vals["distance"] is None else vals["distance"] + (3 - epoch) * 0.1
            w.writerow({"epoch": epoch, "train_loss": 1.0 / epoch, "val_acc": 0.5, "distance_to_expert": d,
                        "genotype": genotype.to_text()})
    if latency:
        (job / "eval").mkdir()
        (job / "eval" / "metrics.json").write_text(json.dumps({
            "test_acc": vals["test_acc"], "params": vals["params"], "params_aux": 0,
            "latency_ms": {"batch_1": vals["latency"], "batch_64": 9.0}, "epochs": 1, "device": "cpu"}))
    return vals


@pytest.fixture
def sweep(tmp_path):
    """2 regularizers x 3 seeds; job 4 (irl, seed 1) never started, job 5 (irl, seed 2) crashed before metrics.json."""
    root = tmp_path / "sweep"
    write_multirun(root, ["regularizer=none,irl", "seed=0,1,2"])
    written = {}
    for num, (reg, seed) in enumerate((r, s) for r in REGS for s in SEEDS):
        if num == 4:
            continue
        vals = write_job(root, num, reg, seed, finished=num != 5)
        if vals:
            written.setdefault(reg, []).append(vals)
    return root, written


def expected_stat(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def test_hydra_job_numbering_is_the_cartesian_product_in_key_order():
    assert sweep_job_overrides(["a=1,2", "b=x,y", "c=z"]) == [
        ["a=1", "b=x", "c=z"], ["a=1", "b=y", "c=z"], ["a=2", "b=x", "c=z"], ["a=2", "b=y", "c=z"]]
    assert [j[0] for j in sweep_job_overrides(["seed=range(0,3)"])] == ["seed=0", "seed=1", "seed=2"]


def test_sweep_params_of_a_config_file_expand_before_the_command_line(tmp_path):
    """experiment=compare sets hydra.sweeper.params; Hydra puts those lists first in the job numbering."""
    root = tmp_path / "sweep"
    write_multirun(root, ["experiment=compare"], params={"regularizer": "none,irl", "seed": "0,1,2"})
    write_job(root, 0, "none", 0)
    report = build_report(root)
    assert report.sweep.expected == 6
    assert report.missing[-1].overrides == ["regularizer=irl", "seed=2", "experiment=compare"]
    assert "`regularizer=none,irl seed=0,1,2 experiment=compare`" in write_report(report).read_text()


def test_summary_numbers_are_the_written_numbers(sweep):
    root, written = sweep
    report = build_report(root)
    assert [g.label for g in report.groups] == ["none", "irl"]
    assert [g.n for g in report.groups] == [3, 1]
    keys = [c.key for c in report.columns]
    assert "flops" not in keys  # no job wrote FLOPs
    assert "benchmark:cifar10" in keys and "benchmark_percentile:cifar10" in keys
    getters = {
        "val_acc": lambda v: v["val_acc"], "test_acc": lambda v: v["test_acc"], "params": lambda v: v["params"],
        "latency_ms": lambda v: v["latency"], "search_seconds": lambda v: v["seconds"],
        "benchmark:cifar10": lambda v: v["bench"],
        "benchmark_percentile:cifar10": lambda v: v["percentile"],
        "skip_connections": lambda v: sum(v["skips"].values()),
        "conv_depth": lambda v: statistics.fmean(v["depth"].values()),
        "param_free": lambda v: v["free"]["cell"],
        "collapsed": lambda v: float(v["free"]["cell"] >= 4),
    }
    for reg, vals in written.items():
        g = report.group(reg)
        for key, get in getters.items():
            mean, std = expected_stat([get(v) for v in vals])
            stat = g.stats[key]
            assert stat.n == len(vals)
            assert stat.mean == pytest.approx(mean)
            assert (stat.std is None) if std is None else stat.std == pytest.approx(std)
    # the none regularizer has no expert distance: no value, not a zero
    assert report.group("none").stats["distance_to_expert"] is None
    assert report.group("irl").stats["distance_to_expert"].mean == pytest.approx(written["irl"][0]["distance"])


def test_sample_std_and_single_value_formatting(sweep):
    root, written = sweep
    table = build_report(root).summary_table()
    vals = [v["val_acc"] for v in written["none"]]
    assert f"{statistics.fmean(vals):.4f} ± {statistics.stdev(vals):.4f}" in table
    assert f"{written['irl'][0]['val_acc']:.4f} ± —" in table  # one seed: no std
    assert format_stat(build_report(root).group("none").stats["params"], "count").endswith("k")


def test_a_std_takes_its_means_form():
    """A percentage's std is a percentage (two decimals) though it is small, a fraction's has four."""
    from irlas_darts.report.columns import Stat

    assert format_stat(Stat(88.2134, 0.32811, 2), "acc") == "88.21 ± 0.33"
    assert format_stat(Stat(0.8821, 0.0328, 2), "acc") == "0.8821 ± 0.0328"
    assert format_stat(Stat(88.2134, 2.5, 2), "acc") == "88.21 ± 2.50"


def test_report_lists_missing_jobs_and_writes_markdown_and_pngs(sweep):
    root, _ = sweep
    report = build_report(root)
    assert [(m.name, m.overrides) for m in report.missing] == [
        ("4", ["regularizer=irl", "seed=1"]), ("5", ["regularizer=irl", "seed=2"])]
    assert "not run" in report.missing[0].reason and "metrics.json" in report.missing[1].reason
    path = write_report(report)
    assert path == root / "report.md"
    text = path.read_text()
    assert "`regularizer=none,irl seed=0,1,2`" in text
    assert "| 4 | regularizer=irl seed=1 |" in text
    assert ARCH.replace("|", "\\|") in text  # pipes of the arch string escaped inside the table
    expected_pngs = {"accuracy_vs_latency.png", "distance_to_expert.png", "cells_none_cell.png", "cells_irl_cell.png",
                     "alphas_none.png", "alphas_irl.png"}
    assert {p.name for p in report.plots.values()} == expected_pngs
    for name in expected_pngs:
        assert (root / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in text
    assert not list(root.glob(".*.tmp"))


def test_out_dir_and_skipped_latency_plot(tmp_path):
    root = tmp_path / "sweep"
    write_multirun(root, ["regularizer=none,irl"])
    write_job(root, 0, "none", 0, latency=False)
    write_job(root, 1, "irl", 0, latency=False)
    report = build_report(root)
    assert "latency_ms" not in [c.key for c in report.columns] and "test_acc" not in [c.key for c in report.columns]
    out = tmp_path / "elsewhere"
    path = write_report(report, out)
    assert path == out / "report.md" and not (root / "report.md").exists()
    assert not (out / "accuracy_vs_latency.png").exists()
    assert "accuracy vs latency: skipped" in path.read_text()


def test_corrupt_files_are_listed_not_fatal(sweep):
    root, _ = sweep
    (root / "1" / "metrics.json").write_text("{not json")
    (root / "2" / "history.csv").write_text('epoch,val_acc\n1,0.5,extra,cells\n')
    report = build_report(root)
    assert [m.name for m in report.missing] == ["1", "4", "5"]
    assert "corrupt metrics.json" in report.missing[0].reason
    assert report.group("none").n == 2
    assert any("history.csv" in p for p in next(j for j in report.jobs if j.name == "2").problems)
    assert "corrupt history.csv" in write_report(report).read_text()


def test_mixed_spaces_group_by_space_and_regularizer(tmp_path):
    root = tmp_path / "sweep"
    write_multirun(root, ["space=nb201,darts", "regularizer=irl"])
    write_job(root, 0, "irl", 0, latency=False)
    write_job(root, 1, "irl", 0, space="darts", latency=False, genotype=published_genotype("DARTS_V2"))
    report = build_report(root)
    assert [g.label for g in report.groups] == ["nb201 / irl", "darts / irl"]
    darts = report.group("darts / irl")
    assert darts.stats["skip_connections"].mean == sum(
        c["skip_count"] for c in darts.jobs[0].metrics["cell_stats"].values())


def test_without_multirun_yaml_the_job_dirs_found_are_the_jobs(sweep):
    root, written = sweep
    (root / "multirun.yaml").unlink()
    report = build_report(root)
    assert report.sweep.expected is None
    assert [m.name for m in report.missing] == ["5"]  # dir without metrics.json; job 4 has no dir to find
    assert sum(g.n for g in report.groups) == sum(len(v) for v in written.values())


def test_cli_prints_summary_and_report_path(sweep, capsys):
    root, _ = sweep
    main([str(root)])
    out = capsys.readouterr().out
    assert "| group | n |" in out and "| none | 3 |" in out
    assert out.strip().endswith(f"report: {root / 'report.md'}")


@pytest.mark.parametrize("make", ["absent", "empty"])
def test_cli_exit_2_without_jobs(tmp_path, capsys, make):
    target = tmp_path / "sweep"
    if make == "empty":
        target.mkdir()
    with pytest.raises(SystemExit) as exc:
        main([str(target)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("irlas-report: error: ")


def test_an_algorithm_sweep_puts_each_algorithm_with_and_without_the_prior_side_by_side(tmp_path):
    root = tmp_path / "sweep"
    write_multirun(root, ["regularizer=none,irl", "algorithm=darts,gdas"])  # regularizer outermost: interleaved jobs
    order = [("none", "darts"), ("none", "gdas"), ("irl", "darts"), ("irl", "gdas")]
    for num, (reg, alg) in enumerate(order):
        write_job(root, num, reg, 0, algorithm=alg)
    report = build_report(root)
    assert [g.label for g in report.groups] == ["darts / none", "darts / irl", "gdas / none", "gdas / irl"]
    assert {j.algorithm for j in report.group("gdas / irl").jobs} == {"gdas"}
    assert "| algorithm |" in write_report(report).read_text()


def test_runs_without_an_algorithm_are_darts_and_unlabelled(sweep):
    root, _ = sweep
    report = build_report(root)
    assert {j.algorithm for j in report.jobs} == {"darts"}
    assert all("darts" not in g.label for g in report.groups)
