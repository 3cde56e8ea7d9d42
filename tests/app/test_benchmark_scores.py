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
    assert metrics["benchmark_rank"] == {"cifar10_valid_acc": table.rank(arch)}
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


class NatsStandIn:
    """The NATS-Bench topology API's method names (see tests/evaluation/test_nats.py), every cell at a fixed score."""

    def __init__(self) -> None:
        from irlas_darts.evaluation.benchmark import all_arch_strings

        self.index = {a: k for k, a in enumerate(all_arch_strings())}

    def __len__(self) -> int:
        return len(self.index)

    def query_index_by_arch(self, arch):
        return self.index.get(arch, -1)

    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True):
        info = {"test-accuracy": 60.0 + index % 7}
        if dataset != "cifar10":
            info["valid-accuracy"] = 50.0 + index % 5
        return info


@pytest.mark.slow
def test_benchmark_nats_adds_the_three_datasets_to_metrics(tmp_path, monkeypatch):
    import sys
    import types

    module = types.ModuleType("nats_bench")
    module.create = lambda path, space, fast_mode=False, verbose=True: NatsStandIn()
    monkeypatch.setitem(sys.modules, "nats_bench", module)
    nats_file = tmp_path / "NATS-tss.pickle.pbz2"
    nats_file.write_bytes(b"\x80")
    run = tmp_path / "run"
    metrics = run_search(compose_search(*FAST[:-1], "search.epochs=1", f"benchmark.nats={nats_file}",
                                        "benchmark.allow_pickle=true"), run)
    index = NatsStandIn().index[metrics["arch_str"]]
    bench = metrics["benchmark"]
    assert bench["nats_cifar100_test_acc"] == 60.0 + index % 7 and bench["nats_cifar10_valid_acc"] == 50.0 + index % 5
    assert {"cifar10_valid_acc", "nats_cifar10_test_acc", "nats_imagenet16_120_valid_acc"} <= set(bench)


def test_benchmark_nats_without_the_package_is_one_line_before_the_search(tmp_path, monkeypatch):
    import sys

    from irlas_darts.app.benchmarks import Benchmarks
    from irlas_darts.evaluation.benchmark import BenchmarkError

    monkeypatch.setitem(sys.modules, "nats_bench", None)
    nats_file = tmp_path / "NATS-tss.pickle.pbz2"
    nats_file.write_bytes(b"\x80")
    cfg = compose_search(*FAST, f"benchmark.nats={nats_file}", "benchmark.allow_pickle=true")
    with pytest.raises(BenchmarkError, match="pip install"):
        Benchmarks.open(cfg.benchmark, "nb201")
