"""NATS-Bench support against a stand-in with the API's method names (no download, no nats_bench package here).

The stand-in keeps what ``nats_bench.create(file_path_or_dict, search_space, fast_mode, verbose)`` returns offers:
``len``, ``arch(index)``, ``query_index_by_arch(arch)`` (-1 when absent) and ``get_more_info(index, dataset, iepoch,
hp, is_random)`` with the datasets' own keys (``cifar10`` has only a test split, ``cifar10-valid`` its validation).
"""

from __future__ import annotations

import csv
import sys
import types

import pytest

from irlas_darts.app import nats_table
from irlas_darts.evaluation.benchmark import BenchmarkError, all_arch_strings, load_table
from irlas_darts.evaluation.nats import COLUMNS, open_nats, write_table

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")


def made_up(index: int, dataset: str, split: str) -> float:
    return round(50.0 + (index * 7 % 40) + DATASETS.index(dataset) + (0.5 if split == "test" else 0.0), 4)


class StandInNats:
    """What the NATS-Bench topology API answers, over the first ``n`` cells."""

    def __init__(self, n: int) -> None:
        self.archs = all_arch_strings()[:n]
        self.calls: list[tuple] = []

    def __len__(self) -> int:
        return len(self.archs)

    def arch(self, index: int) -> str:
        return self.archs[index]

    def query_index_by_arch(self, arch):
        return self.archs.index(arch) if arch in self.archs else -1

    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True):
        self.calls.append((index, dataset, hp, is_random))
        info = {"train-loss": 0.1, "train-accuracy": 99.0}
        if dataset != "cifar10":
            info["valid-accuracy"] = made_up(index, dataset, "valid")
        info["test-accuracy"] = made_up(index, dataset, "test")
        return info


@pytest.fixture
def nats_module(monkeypatch):
    """A stand-in ``nats_bench`` package whose ``create`` records its arguments."""
    module = types.ModuleType("nats_bench")
    module.created = []

    def create(file_path_or_dict, search_space, fast_mode=False, verbose=True):
        module.created.append((file_path_or_dict, search_space, fast_mode, verbose))
        module.api = StandInNats(40)
        return module.api

    module.create = create
    monkeypatch.setitem(sys.modules, "nats_bench", module)
    return module


@pytest.fixture
def nats_file(tmp_path):
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    path.write_bytes(b"\x80 not read by the stand-in")
    return path


def test_scores_read_each_dataset_at_200_epochs_averaged_over_seeds(nats_module, nats_file):
    bench = open_nats(nats_file, allow_pickle=True)
    assert nats_module.created == [(str(nats_file), "tss", False, False)]
    arch = all_arch_strings()[7]
    scores = bench.scores(" " + arch + "\n")
    assert list(scores) == list(COLUMNS)
    assert scores["cifar10_valid_acc"] == made_up(7, "cifar10-valid", "valid")
    assert scores["cifar10_test_acc"] == made_up(7, "cifar10", "test")
    assert scores["cifar100_test_acc"] == made_up(7, "cifar100", "test")
    assert scores["imagenet16_120_valid_acc"] == made_up(7, "ImageNet16-120", "valid")
    assert {(hp, rnd) for _, _, hp, rnd in nats_module.api.calls} == {("200", False)}


def test_a_fast_mode_folder_opens_in_fast_mode(nats_module, tmp_path):
    open_nats(tmp_path, allow_pickle=True)
    assert nats_module.created[-1][2] is True


def test_a_cell_not_in_the_file_is_one_line(nats_module, nats_file):
    bench = open_nats(nats_file, allow_pickle=True)
    with pytest.raises(BenchmarkError, match="not in this NATS-Bench file"):
        bench.scores(all_arch_strings()[-1])


@pytest.mark.parametrize("case, needles", [
    ("missing", ["no such NATS-Bench file", "NATS-tss-v1_0-3ffb9"]),
    ("no_opt_in", ["pickle", "benchmark.allow_pickle=true", "nats_table"]),
    ("no_package", ["nats_bench package", "pip install"]),
])
def test_missing_file_opt_in_or_package_is_one_line_naming_the_fix(case, needles, nats_file, monkeypatch):
    if case == "no_package":
        monkeypatch.setitem(sys.modules, "nats_bench", None)  # import fails as when it is not installed
    path = nats_file.parent / "absent.pbz2" if case == "missing" else nats_file
    with pytest.raises(BenchmarkError) as info:
        open_nats(path, allow_pickle=case != "no_opt_in")
    assert "\n" not in str(info.value)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_the_written_table_is_a_benchmark_table_of_the_same_scores(nats_module, nats_file, tmp_path):
    bench = open_nats(nats_file, allow_pickle=True)
    out = write_table(bench, tmp_path / "nats.csv")
    table = load_table(out)
    assert table.accuracy_columns == list(COLUMNS) and len(table) == len(bench) == 40
    for arch in all_arch_strings()[:40:9]:
        assert table.lookup(arch) == pytest.approx(bench.scores(arch))
    with out.open() as fh:
        assert next(csv.reader(fh)) == ["arch_str", *COLUMNS]


def test_the_command_writes_the_table_and_refuses_without_the_opt_in(nats_module, nats_file, tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert nats_table.main([str(nats_file), str(out), "--allow-pickle"]) == 0
    assert len(load_table(out)) == 40 and "40 cells" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        nats_table.main([str(nats_file), str(tmp_path / "u.csv")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.count("\n") == 0 and "--allow-pickle" in err
    assert not (tmp_path / "u.csv").exists()
