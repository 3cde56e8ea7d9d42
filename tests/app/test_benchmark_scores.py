"""NAS-Bench-201 searches score their cells on the packaged table with no option: at the end (accuracy and
percentile) and every epoch (history.csv, the collapse curve); ``benchmark.table`` overrides it, ``null`` turns it off."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from irlas_darts.app.config import conf_dir, register_configs
from irlas_darts.app.search_app import run_search
from irlas_darts.evaluation.benchmark import load_table, packaged_table_path

FAST = ["dataset=synthetic", "space=nb201", "logger.progress=false", "runtime.threads=1", "search.epochs=2"]


def compose_search(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("irlas_search", overrides=list(overrides))


def history(run: Path) -> list[dict]:
    with open(run / "history.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_an_nb201_search_reports_accuracy_percentile_and_the_curve_by_default(tmp_path):
    cfg = compose_search(*FAST)
    assert cfg.benchmark.table == "packaged"
    metrics = run_search(cfg, tmp_path)
    table = load_table(packaged_table_path())
    arch = metrics["arch_str"]
    assert metrics["benchmark"] == table.lookup(arch)
    assert metrics["benchmark_percentile"] == {"cifar10_valid_acc": table.percentile(arch)}
    assert json.loads((tmp_path / "metrics.json").read_text())["benchmark_percentile"] == metrics["benchmark_percentile"]
    rows = history(tmp_path)
    assert len(rows) == 2
    for row in rows:  # each epoch's derived cell, scored
        assert float(row["benchmark_acc"]) == pytest.approx(table.lookup(row["genotype"])["cifar10_valid_acc"])
    assert (tmp_path / "benchmark_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_benchmark_table_null_turns_the_lookups_off(tmp_path):
    metrics = run_search(compose_search(*FAST[:-1], "search.epochs=1", "benchmark.table=null"), tmp_path)
    assert "benchmark" not in metrics and "benchmark_percentile" not in metrics
    assert "benchmark_acc" not in history(tmp_path)[0]
    assert not (tmp_path / "benchmark_curve.png").exists()


def test_a_darts_search_ignores_the_packaged_default():
    from irlas_darts.app.benchmarks import open_table

    cfg = compose_search("space=darts")
    assert cfg.benchmark.table == "packaged" and open_table(cfg.benchmark, "darts") is None
