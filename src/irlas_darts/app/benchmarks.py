"""Benchmark scores of a run's cells: which NAS-Bench-201 table (and NATS-Bench file), read and checked up front.

``benchmark.table`` is ``packaged`` by default: the CIFAR-10 validation table shipped in the package (all 15,625
cells), so a NAS-Bench-201 search reports its cell's benchmark accuracy and percentile with no option; a path
overrides it, ``benchmark.table=null`` turns lookups off. DARTS-space runs ignore the packaged default.
``benchmark.nats=<file>`` adds NATS-Bench's CIFAR-10, CIFAR-100 and ImageNet16-120 accuracies (``nats_*`` keys of
``metrics.json``'s ``benchmark``); it is a pickle, so it also needs ``benchmark.allow_pickle=true``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..evaluation.benchmark import PACKAGED, BenchmarkTable, load_table, packaged_table_path
from ..evaluation.nats import NatsBench, open_nats

log = logging.getLogger("irlas_darts.benchmark")

EPOCH_COLUMN = "benchmark_acc"  # history.csv: the derived cell's accuracy in the table's first accuracy column
NATS_PREFIX = "nats_"


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


@dataclass
class Benchmarks:
    """What a run scores its NAS-Bench-201 cells on: a table, a NATS-Bench file, both or neither."""

    table: BenchmarkTable | None = None
    nats: NatsBench | None = None

    @classmethod
    def open(cls, b: DictConfig, space_name: str) -> "Benchmarks":
        nats = open_nats(b.nats, allow_pickle=b.allow_pickle) if b.get("nats") and space_name == "nb201" else None
        return cls(open_table(b, space_name), nats)

    @property
    def active(self) -> bool:
        return self.table is not None or self.nats is not None

    def epoch_score(self, genotype_text: str) -> float | None:
        """The derived cell's accuracy in the table's first accuracy column (history.csv's ``benchmark_acc``)."""
        return None if self.table is None else self.table.lookup(genotype_text)[self.table.accuracy_columns[0]]

    def final(self, genotype: Any) -> dict[str, Any]:
        """``benchmark`` (accuracies), ``benchmark_percentile`` (share of all cells below, %) and ``benchmark_rank``
        (1 = the best cell) for metrics.json."""
        out: dict[str, Any] = {"benchmark": {}}
        if self.table is not None:
            table = self.table
            out["benchmark"].update(table.lookup(genotype))
            out["benchmark_percentile"] = {c: table.percentile(genotype, c) for c in table.accuracy_columns}
            out["benchmark_rank"] = {c: table.rank(genotype, c) for c in table.accuracy_columns}
            column = table.accuracy_columns[0]
            log.info("benchmark: %s %.2f, rank %d of the %d cells, above %.2f%% of them (%s)", column,
                     out["benchmark"][column], out["benchmark_rank"][column], len(table),
                     out["benchmark_percentile"][column], table.path.name)
        if self.nats is not None:
            scores = self.nats.scores(genotype)
            out["benchmark"].update({NATS_PREFIX + k: v for k, v in scores.items()})
            log.info("NATS-Bench: %s", ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        return out

    def draw_curve(self, history: Sequence[dict[str, Any]], expert_texts: Sequence[str], path: Path) -> Path | None:
        """``benchmark_curve.png``: the derived cell's accuracy per epoch against the best cell and the expert's."""
        if self.table is None:
            return None
        from ..viz import plot_benchmark_curve

        table = self.table
        rows = [r for r in history if r.get(EPOCH_COLUMN) is not None]
        column = table.accuracy_columns[0]
        references = {"best cell": table.best(column)[1]}
        for k, text in enumerate(expert_texts):
            references["expert cell" if len(expert_texts) == 1 else f"expert cell {k + 1}"] = table.lookup(text)[column]
        return plot_benchmark_curve([r["epoch"] for r in rows], [r[EPOCH_COLUMN] for r in rows], path,
                                    references=references, ylabel=f"{column} ({table.path.name})")
