"""Benchmark scores of a run's cells: which NAS-Bench-201 table, read and checked before any search work.

``benchmark.table`` is ``packaged`` by default: the CIFAR-10 validation table shipped in the package (all 15,625
cells), so a NAS-Bench-201 search reports its cell's benchmark accuracy and percentile with no option; a path
overrides it, ``benchmark.table=null`` turns lookups off. DARTS-space runs ignore the packaged default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..evaluation.benchmark import PACKAGED, BenchmarkTable, load_table, packaged_table_path

log = logging.getLogger("irlas_darts.benchmark")

EPOCH_COLUMN = "benchmark_acc"  # history.csv: the derived cell's accuracy in the table's first accuracy column


def explicit_table(b: DictConfig) -> bool:
    """Whether ``benchmark.table`` names a file (not the packaged default, not off)."""
    return bool(b.table) and b.table != PACKAGED


def open_table(b: DictConfig, space_name: str) -> BenchmarkTable | None:
    """The table a run of ``space_name`` scores its cells on, complete and readable, or None."""
    if space_name != "nb201" or not b.table:
        return None
    path = packaged_table_path() if b.table == PACKAGED else b.table
    table = load_table(path, arch_column=b.arch_column, accuracy_columns=list(b.accuracy_columns) or None,
                       allow_pickle=b.allow_pickle)
    table.require_complete()
    return table


def final_scores(table: BenchmarkTable, genotype: Any) -> dict[str, Any]:
    """``benchmark`` (the table's accuracies of the cell) and ``benchmark_percentile`` (its rank, %) for metrics.json."""
    scores = table.lookup(genotype)
    percentiles = {c: table.percentile(genotype, c) for c in table.accuracy_columns}
    column = table.accuracy_columns[0]
    log.info("benchmark: %s %.2f, above %.1f%% of the %d cells (%s)", column, scores[column], percentiles[column],
             len(table), table.path.name)
    return {"benchmark": scores, "benchmark_percentile": percentiles}


def epoch_score(table: BenchmarkTable, genotype_text: str) -> float:
    """The derived cell's accuracy in the table's first accuracy column (history.csv's ``benchmark_acc``)."""
    return table.lookup(genotype_text)[table.accuracy_columns[0]]


def draw_collapse_curve(table: BenchmarkTable, history: Sequence[dict[str, Any]], expert_texts: Sequence[str],
                        path: Path) -> Path | None:
    """``benchmark_curve.png``: the derived cell's accuracy per epoch against the best cell and the expert's cells."""
    from ..viz import plot_benchmark_curve

    rows = [r for r in history if r.get(EPOCH_COLUMN) is not None]
    column = table.accuracy_columns[0]
    references = {"best cell": table.best(column)[1]}
    for k, text in enumerate(expert_texts):
        label = "expert cell" if len(expert_texts) == 1 else f"expert cell {k + 1}"
        references[label] = table.lookup(text)[column]
    return plot_benchmark_curve([r["epoch"] for r in rows], [r[EPOCH_COLUMN] for r in rows], path,
                                references=references, ylabel=f"{column} ({table.path.name})")
