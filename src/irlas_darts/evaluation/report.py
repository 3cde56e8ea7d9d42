"""The comparison report of a sweep: mean ± std per regularizer over seeds, a table of every job, and the pictures.

``build_report`` only reads (see ``report_data``); ``write_report`` draws the PNGs and writes ``report.md``. Values keep
the units the runs wrote them in (val_acc in [0, 1], benchmark columns as the table has them), so nothing is rescaled
behind the reader's back.
"""

from __future__ import annotations

import math
import os
import shlex
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report_data import JobRecord, MissingJob, ReportError, SweepRecord, read_sweep
from .report_plots import draw_plots

__all__ = ["Column", "GroupSummary", "Report", "ReportError", "Stat", "build_report", "format_stat", "write_report"]

STD_NONE = "—"  # sample std of a single value


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _cell_stat(job: JobRecord, names: tuple[str, ...], reduce: Callable[[list[float]], float]) -> float | None:
    stats = job.metrics.get("cell_stats")
    if not isinstance(stats, dict) or not stats:
        return None
    values = []
    for cell in stats.values():
        found = [_finite(cell.get(n)) for n in names if isinstance(cell, dict)]
        found = [v for v in found if v is not None]
        if not found:
            return None
        values.append(found[0])
    return reduce(values)


def _judged_cell(job: JobRecord) -> dict | None:
    """The cell the collapse measure judges: DARTS' normal cell, NAS-Bench-201's one cell."""
    stats = job.metrics.get("cell_stats")
    if not isinstance(stats, dict) or not stats:
        return None
    cell = stats.get("normal", next(iter(stats.values())))
    return cell if isinstance(cell, dict) else None


def _param_free(job: JobRecord) -> float | None:
    cell = _judged_cell(job)
    return None if cell is None else _finite(cell.get("param_free"))


def _collapsed(job: JobRecord) -> float | None:
    cell = _judged_cell(job)
    return None if cell is None or "collapsed" not in cell else float(bool(cell["collapsed"]))


@dataclass(frozen=True)
class Column:
    """One summarised quantity: how to read it from a job and how to print it."""

    key: str
    header: str
    read: Callable[[JobRecord], float | None]
    kind: str = "float"  # acc | count | seconds | small | float (3 decimals)


def _benchmark_columns(jobs: list[JobRecord]) -> list[Column]:
    names: list[str] = []
    for job in jobs:
        bench = job.metrics.get("benchmark")
        if isinstance(bench, dict):
            names += [k for k, v in bench.items() if _finite(v) is not None and k not in names]
    return [Column(f"benchmark:{n}", f"benchmark {n}", lambda j, n=n: _finite(_get(j.metrics, "benchmark", n)), "acc")
            for n in names]


def candidate_columns(jobs: list[JobRecord]) -> list[Column]:
    """Every quantity the summary may show, in display order (those without data are dropped by ``build_report``)."""
    return [
        Column("val_acc", "supernet val_acc", lambda j: _finite(j.metrics.get("val_acc")), "acc"),
        Column("test_acc", "test_acc", lambda j: _finite(_get(j.eval, "test_acc")), "acc"),
        *_benchmark_columns(jobs),
        Column("params", "params", lambda j: _finite(_get(j.eval, "params")), "count"),
        Column("flops", "FLOPs", lambda j: _finite(_get(j.eval, "flops")), "count"),
        Column("latency_ms", "latency b=1 (ms)", lambda j: _finite(_get(j.eval, "latency_ms", "batch_1"))),
        Column("distance_to_expert", "distance to expert",
               lambda j: _finite(_get(j.metrics, "topology", "distance_to_expert"))),
        Column("skip_connections", "skips (sum over cells)",
               lambda j: _cell_stat(j, ("skip_count", "skip_connect"), sum), "small"),
        Column("param_free", "parameter-free edges (normal cell)", _param_free, "small"),
        Column("collapsed", "collapsed (share of jobs)", _collapsed, "small"),
        Column("conv_depth", "conv depth (mean over cells)",
               lambda j: _cell_stat(j, ("conv_depth",), statistics.fmean), "small"),
        Column("search_seconds", "search (s)", lambda j: _finite(j.metrics.get("search_seconds")), "seconds"),
    ]


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (``std`` None for a single value) over the ``n`` jobs that have the value."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Stat | None":
        if not values:
            return None
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


@dataclass
class GroupSummary:
    key: tuple[str, str, str]  # (space, dataset, regularizer)
    label: str
    jobs: list[JobRecord]
    stats: dict[str, Stat | None]

    @property
    def n(self) -> int:
        return len(self.jobs)


@dataclass
class Report:
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


# --- numbers -> text -----------------------------------------------------------------------------------------------
_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def _format(x: float, kind: str, scale: tuple[float, str] | None = None) -> str:
    if kind == "count":
        div, suffix = scale or (1.0, "")
        return f"{x / div:.3g}{suffix}" if suffix else f"{x:.0f}"
    if kind == "acc":
        return f"{x:.4f}" if abs(x) <= 1.5 else f"{x:.2f}"
    if kind == "seconds":
        return f"{x:.1f}"
    if kind == "small":
        return f"{x:.2f}"
    return f"{x:.3f}"


def format_stat(stat: Stat | None, kind: str = "float", n: int | None = None) -> str:
    """``mean ± std``; ``—`` as std of a single value; ``(k)`` when only k of the group's n jobs have the value."""
    if stat is None:
        return ""
    scale = next(((d, s) for d, s in _SI if abs(stat.mean) >= d), None) if kind == "count" else None
    std = STD_NONE if stat.std is None else _format(stat.std, kind, scale)
    text = f"{_format(stat.mean, kind, scale)} ± {std}"
    return text + (f" ({stat.n})" if n is not None and stat.n < n else "")


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(report: Report) -> str:
    header = ["group", "n"] + [c.header for c in report.columns]
    rows = [[g.label, g.n] + [format_stat(g.stats[c.key], c.kind, g.n) for c in report.columns] for g in report.groups]
    return _md_table(header, rows)


def genotype_text(job: JobRecord) -> str:
    text = job.metrics.get("genotype_text") or job.metrics.get("arch_str")
    if text:
        return str(text)
    from ..spaces import GenotypeError, genotype_from_json

    try:
        return genotype_from_json(job.metrics["genotype"]).to_text()
    except (KeyError, TypeError, ValueError, GenotypeError):
        return ""


def jobs_table(report: Report) -> str:
    def num(x: float | None) -> str:
        return "" if x is None else _format(x, "acc")

    rows = []
    for job in report.jobs:
        dist = _finite(_get(job.metrics, "topology", "distance_to_expert"))
        rows.append([job.name, job.space, job.regularizer, "" if job.seed is None else job.seed,
                     num(_finite(job.metrics.get("val_acc"))), num(_finite(_get(job.eval, "test_acc"))),
                     "" if dist is None else f"{dist:.3f}", f"`{genotype_text(job)}`"])
    return _md_table(["job", "space", "regularizer", "seed", "val_acc", "test_acc", "distance", "genotype"], rows)


# --- building ------------------------------------------------------------------------------------------------------
def _labels(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """Name a group by its regularizer, prefixed by the space / dataset only where the sweep mixes them."""
    varies = [len({k[i] for k in keys}) > 1 for i in range(2)]
    return {k: " / ".join([p for p, v in zip(k[:2], varies) if v] + [k[2]]) for k in keys}


def build_report(sweep_dir: str | Path) -> Report:
    """Read the sweep and summarise it per (space, dataset, regularizer) group, in the sweep's order."""
    sweep = read_sweep(sweep_dir)
    by_key: dict[tuple[str, str, str], list[JobRecord]] = {}
    for job in sweep.jobs:
        by_key.setdefault((job.space, job.dataset, job.regularizer), []).append(job)
    labels = _labels(list(by_key))
    columns = [c for c in candidate_columns(sweep.jobs) if any(c.read(j) is not None for j in sweep.jobs)]
    groups = []
    for key, jobs in by_key.items():
        stats = {c.key: Stat.of([v for v in (c.read(j) for j in jobs) if v is not None]) for c in columns}
        groups.append(GroupSummary(key, labels[key], jobs, stats))
    return Report(sweep, columns, groups)


# --- writing -------------------------------------------------------------------------------------------------------
def to_markdown(report: Report, out_dir: Path) -> str:
    sweep = report.sweep
    lines = [f"# Sweep report: {sweep.root.resolve().name}", "", f"Sweep dir: `{sweep.root}`  "]
    if sweep.overrides is not None:
        lines.append(f"Sweep (`--multirun`, config sweeps first): `{shlex.join(sweep.overrides)}`  ")
    of = f" of {sweep.expected} expected" if sweep.expected is not None else ""
    lines += [f"Jobs: {len(sweep.jobs)} finished{of}, {len(sweep.missing)} missing or unreadable.", ""]
    lines += ["## Summary", "", summary_table(report), "",
              "Mean ± sample standard deviation over the group's jobs (seeds); "
              f"{STD_NONE} where one job has the value, (k) when only k of the group's n jobs have it. "
              "Skips: skip connections summed over the cell types of a genotype; conv depth: the longest chain of "
              "convs from a cell input to the output, averaged over the cell types. Parameter-free edges: kept skip and "
              "pool edges of the normal cell (NAS-Bench-201: the cell); collapsed: the share of jobs whose cell has "
              "5 of 8 (NAS-Bench-201: 4 of 6) such edges or no conv on any path.", ""]
    lines += ["## Jobs", "", jobs_table(report), ""]
    if sweep.missing:
        rows = [[m.name, " ".join(m.overrides), m.reason] for m in sweep.missing]
        lines += ["## Missing or unreadable jobs", "", _md_table(["job", "overrides", "reason"], rows), ""]
    lines += ["## Plots", ""]
    for title, path in report.plots.items():
        rel = Path(path).relative_to(out_dir).as_posix() if Path(path).is_relative_to(out_dir) else str(path)
        lines += [f"### [{title}]({rel})", "", f"![{title}]({rel})", ""]
    notes = report.notes + sweep.warnings + [f"job {j.name}: {p}" for j in sweep.jobs for p in j.problems]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def _atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_report(report: Report, out_dir: str | Path | None = None) -> Path:
    """Draw the plots and write ``report.md`` (atomically) into ``out_dir`` (default: the sweep dir)."""
    out = Path(out_dir) if out_dir is not None else report.sweep.root
    out.mkdir(parents=True, exist_ok=True)
    report.plots, report.notes = draw_plots(report, out)
    return _atomic_write_text(out / "report.md", to_markdown(report, out))
