"""The shipped NAS-Bench-201 table: complete, ranked, and the coverage check that refuses partial tables."""

from __future__ import annotations

import csv

import pytest

from irlas_darts.evaluation.benchmark import (
    _CANONICAL, NB201_CELLS, BenchmarkError, all_arch_strings, load_table, normalize_arch, packaged_table_path,
)
from irlas_darts.spaces import NB201Genotype

EXPERT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def packaged():
    return load_table(packaged_table_path())


def test_every_arch_string_is_canonical_and_distinct():
    """All of them: ``load_table`` takes a row spelled this way as its key without parsing it."""
    archs = all_arch_strings()
    assert len(archs) == len(set(archs)) == NB201_CELLS == 15625
    assert all(normalize_arch(a) == a for a in archs)
    assert all(_CANONICAL.fullmatch(a) for a in archs)
    assert not any(_CANONICAL.fullmatch(a) for a in (" " + archs[7], archs[7].replace("~1|", "~0|"), archs[7] + "|"))


def test_the_packaged_table_covers_the_space_and_ships_its_licence(packaged):
    packaged.require_complete()
    assert len(packaged) == NB201_CELLS and packaged.accuracy_columns == ["cifar10_valid_acc"]
    assert (packaged_table_path().parent / "NB201_LICENSE.txt").read_text().count("MIT") >= 1


def test_percentile_orders_cells_like_their_accuracy(packaged):
    best_arch, best = packaged.best()
    assert best == max(v["cifar10_valid_acc"] for v in packaged.rows.values())
    archs = [best_arch, EXPERT, ALL_SKIP] + all_arch_strings()[::1999]
    by_acc = sorted(archs, key=lambda a: packaged.lookup(a)["cifar10_valid_acc"])
    pct = [packaged.percentile(a) for a in by_acc]
    assert pct == sorted(pct) and all(0 < p < 100 for p in pct)
    assert packaged.percentile(best_arch) > 99.99 and packaged.percentile(ALL_SKIP) < packaged.percentile(EXPERT)
    assert packaged.percentile(NB201Genotype.from_arch_str(EXPERT)) == packaged.percentile(EXPERT)
    ranks = [packaged.rank(a) for a in by_acc]
    assert ranks == sorted(ranks, reverse=True) and packaged.rank(best_arch) == 1
    assert ranks[0] == 1 + sum(v["cifar10_valid_acc"] > packaged.lookup(by_acc[0])["cifar10_valid_acc"]
                               for v in packaged.rows.values())


def test_ties_count_half(tmp_path):
    path = tmp_path / "t.csv"
    archs = all_arch_strings()
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_str", "acc"])
        w.writerows([[a, 1.0 if k < 4 else 2.0] for k, a in enumerate(archs[:8])])
    table = load_table(path)
    assert table.percentile(archs[0]) == 25.0  # 4 tied at the bottom of 8: half of them below
    assert table.percentile(archs[7]) == 75.0
    assert table.rank(archs[7]) == 1 and table.rank(archs[0]) == 5  # tied cells share a rank


def test_a_partial_table_is_refused_with_the_count_and_an_example(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(f"arch_str,cifar10_valid_acc\n{EXPERT},91.3\n")
    table = load_table(path)
    with pytest.raises(BenchmarkError) as info:
        table.require_complete()
    message = str(info.value)
    assert "one.csv" in message and "covers 1 of the 15,625" in message and "15,624 missing" in message
    assert "|none~0|" in message and "\n" not in message
