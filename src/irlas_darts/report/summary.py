"""The comparison report of a sweep: mean ± std per (space, dataset, regularizer, algorithm) group over seeds.

Groups of one algorithm sit side by side (``darts / none``, ``darts / irl``, ``gdas / none``, ...), so a sweep over
algorithms and regularizers reads as pairs: does the prior help on top of each algorithm?

``build_report`` only reads (see ``sweep``); ``markdown.write_report`` draws the PNGs and writes ``report.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..spaces import GenotypeError, genotype_from_json
from .columns import Column, Stat, candidate_columns, finite, format_stat, format_value, lookup
from .sweep import JobRecord, MissingJob, SweepRecord, read_sweep


@dataclass
class GroupSummary:
    """The jobs of one (space, dataset, regularizer, algorithm) and each column's statistic over them."""

    key: tuple[str, str, str, str]  # (space, dataset, regularizer, algorithm)
    label: str
    jobs: list[JobRecord]
    stats: dict[str, Stat | None]

    @property
    def n(self) -> int:
        return len(self.jobs)


@dataclass
class Report:
    """A read sweep, summarised: the columns with data, the groups in sweep order, then the drawn plots."""

    sweep: SweepRecord
    columns: list[Column]
    groups: list[GroupSummary]
    plots: dict[str, Path] = field(default_factory=dict)  # title -> PNG, filled by write_report
    notes: list[str] = field(default_factory=list)  # plots skipped and why, filled by write_report

    @property
    def jobs(self) -> list[JobRecord]:
        return self.sweep.jobs

    @property
    def missing(self) -> list[MissingJob]:
        return self.sweep.missing

    def group(self, label: str) -> GroupSummary:
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(f"group {label!r}: not in the report; groups are {[g.label for g in self.groups]}")

    def label_of(self, job: JobRecord) -> str:
        return next(g.label for g in self.groups if any(job is x for x in g.jobs))

    def summary_table(self) -> str:
        return summary_table(self)


# --- tables --------------------------------------------------------------------------------------------------------
def md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(report: Report) -> str:
    header = ["group", "n"] + [c.header for c in report.columns]
    rows = [[g.label, g.n] + [format_stat(g.stats[c.key], c.kind, g.n) for c in report.columns] for g in report.groups]
    return md_table(header, rows)


def genotype_text(job: JobRecord) -> str:
    text = job.metrics.get("genotype_text") or job.metrics.get("arch_str")
    if text:
        return str(text)
    try:
        return genotype_from_json(job.metrics["genotype"]).to_text()
    except (KeyError, TypeError, ValueError, GenotypeError):
        return ""


def jobs_table(report: Report) -> str:
    def num(x: float | None) -> str:
        return "" if x is None else format_value(x, "acc")

    rows = []
    for job in report.jobs:
        dist = finite(lookup(job.metrics, "topology", "distance_to_expert"))
        rows.append([job.name, job.space, job.algorithm, job.regularizer, "" if job.seed is None else job.seed,
                     num(finite(job.metrics.get("val_acc"))), num(finite(lookup(job.eval, "test_acc"))),
                     "" if dist is None else f"{dist:.3f}", f"`{genotype_text(job)}`"])
    return md_table(["job", "space", "algorithm", "regularizer", "seed", "val_acc", "test_acc", "distance", "genotype"],
                    rows)


# --- building ------------------------------------------------------------------------------------------------------
def _labels(keys: list[tuple[str, str, str, str]]) -> dict[tuple[str, str, str, str], str]:
    """Name a group by its regularizer, prefixed by the space / dataset / algorithm only where the sweep mixes them."""
    varies = [len({k[i] for k in keys}) > 1 for i in range(4)]
    prefix = [(0, varies[0]), (1, varies[1]), (3, varies[3])]
    return {k: " / ".join([k[i] for i, v in prefix if v] + [k[2]]) for k in keys}


def build_report(sweep_dir: str | Path) -> Report:
    """Read the sweep and summarise it per (space, dataset, regularizer, algorithm) group, in the sweep's order, the
    groups of one (space, dataset, algorithm) side by side."""
    sweep = read_sweep(sweep_dir)
    by_key: dict[tuple[str, str, str, str], list[JobRecord]] = {}
    for job in sweep.jobs:
        by_key.setdefault((job.space, job.dataset, job.regularizer, job.algorithm), []).append(job)
    first: dict[tuple[str, str, str], int] = {}
    for i, k in enumerate(by_key):
        first.setdefault((k[0], k[1], k[3]), i)
    by_key = dict(sorted(by_key.items(), key=lambda kv: first[(kv[0][0], kv[0][1], kv[0][3])]))  # stable: pairs
    labels = _labels(list(by_key))
    columns = [c for c in candidate_columns(sweep.jobs) if any(c.read(j) is not None for j in sweep.jobs)]
    groups = []
    for key, jobs in by_key.items():
        stats = {c.key: Stat.of([v for v in (c.read(j) for j in jobs) if v is not None]) for c in columns}
        groups.append(GroupSummary(key, labels[key], jobs, stats))
    return Report(sweep, columns, groups)
