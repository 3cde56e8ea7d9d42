import csv
import pickle
import sys

import pytest

from irlas_darts.evaluation import BenchmarkError, load_table, lookup_arch
from irlas_darts.spaces import NB201Genotype

A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
B = "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|"


def write_csv(path, header, rows):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def table(tmp_path):
    return write_csv(tmp_path / "nb201.csv", ["arch_str", "params", "cifar10_test_acc", "cifar100_valid_accuracy"], [
        [A, 1.2, 93.5, 70.0],
        [B, 0.1, 60.0, 30.0],
        [A, 1.2, 94.5, 72.0],  # a second seed of A
        ["not an arch", 0.0, 1.0, 1.0],
    ])


def test_lookup_returns_the_accuracy_columns_averaged_over_rows(table):
    assert lookup_arch(table, A) == {"cifar10_test_acc": 94.0, "cifar100_valid_accuracy": 71.0}
    assert lookup_arch(table, B, accuracy_columns=["params"]) == {"params": 0.1}


def test_arch_strings_are_compared_after_normalisation(table):
    spaced = "  " + B + "\n"
    assert lookup_arch(table, spaced) == lookup_arch(table, NB201Genotype.from_arch_str(B))


def test_rows_spelled_differently_are_one_arch(tmp_path):
    canonical = NB201Genotype.from_arch_str(A).to_arch_str()
    path = write_csv(tmp_path / "mixed.csv", ["arch_str", "acc"], [[canonical, 90.0], ["  " + A + " ", 92.0]])
    t = load_table(path)
    assert len(t) == 1 and t.counts[canonical] == 2 and t.lookup(A) == {"acc": 91.0}


def test_load_table_defaults(table, tmp_path):
    t = load_table(table)
    assert t.arch_column == "arch_str" and t.accuracy_columns == ["cifar10_test_acc", "cifar100_valid_accuracy"]
    assert len(t) == 2 and t.counts[NB201Genotype.from_arch_str(A).to_arch_str()] == 2
    other = write_csv(tmp_path / "cells.csv", ["arch", "cellstr", "acc"], [["x", A, 50.0]])
    assert load_table(other).arch_column == "cellstr"  # first of arch_str, cellstr, arch present
    assert lookup_arch(other, A) == {"acc": 50.0}


def test_missing_arch_or_column_is_a_one_line_error_naming_the_file(table, tmp_path):
    absent = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    for call in (
        lambda: lookup_arch(table, absent),
        lambda: lookup_arch(table, A, accuracy_columns=["top1"]),
        lambda: lookup_arch(table, A, arch_column="genotype"),
        lambda: lookup_arch(table, "garbage"),
        lambda: lookup_arch(tmp_path / "missing.csv", A),
        lambda: lookup_arch(write_csv(tmp_path / "noarch.csv", ["name", "acc"], [[A, 1.0]]), A),
        lambda: lookup_arch(write_csv(tmp_path / "noacc.csv", ["arch_str", "loss"], [[A, 1.0]]), A),
    ):
        with pytest.raises(BenchmarkError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and ".csv" in message
    assert isinstance(info.value, ValueError)


def test_non_numeric_accuracy_is_reported(tmp_path):
    bad = write_csv(tmp_path / "bad.csv", ["arch_str", "acc"], [[A, "n/a"]])
    with pytest.raises(BenchmarkError, match="'acc'"):
        lookup_arch(bad, A)


def test_pickle_without_pandas_says_so(tmp_path, monkeypatch):
    path = tmp_path / "table.pkl"
    path.write_bytes(pickle.dumps({"arch_str": [A]}))
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(BenchmarkError, match="pandas"):
        lookup_arch(path, A, allow_pickle=True)


class _Payload:
    """Unpickling this writes a marker file: what a hostile table would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["table.pkl", "table.csv"])  # caught by its suffix, and by its first byte
def test_pickled_table_is_refused_unless_allowed_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"arch_str": [A], "acc": [1.0], "x": _Payload(marker)}, protocol=4))
    with pytest.raises(BenchmarkError, match="benchmark.allow_pickle=true") as info:
        load_table(path)
    assert "to_csv" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_pandas_pickle(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"arch_str": [A, B], "cifar10_acc": [94.0, 60.0], "flops": [100.0, 5.0]})
    frame.to_pickle(tmp_path / "table.pkl")
    assert lookup_arch(tmp_path / "table.pkl", B, allow_pickle=True) == {"cifar10_acc": 60.0}
    frame.set_index("arch_str").to_pickle(tmp_path / "indexed.pickle")
    assert lookup_arch(tmp_path / "indexed.pickle", A, allow_pickle=True) == {"cifar10_acc": 94.0}
