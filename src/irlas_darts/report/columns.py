"""The quantities a sweep report summarises: how each is read from a job, its statistic over seeds, how it prints.

Values keep the units the runs wrote them in (val_acc in [0, 1], benchmark columns as the table has them), so nothing
is rescaled behind the reader's back.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .sweep import JobRecord

STD_NONE = "—"  # sample std of a single value


def finite(x: Any) -> float | None:
    """``x`` as a float when it is a finite number (not a bool), else None: absent and broken values alike."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def lookup(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or None where a level is missing or not a dict."""
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
        found = [finite(cell.get(n)) for n in names if isinstance(cell, dict)]
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
    return None if cell is None else finite(cell.get("param_free"))


def _collapsed(job: JobRecord) -> float | None:
    cell = _judged_cell(job)
    return None if cell is None or "collapsed" not in cell else float(bool(cell["collapsed"]))


def _shortcut(job: JobRecord) -> float | None:
    cell = _judged_cell(job)
    return None if cell is None or "shortcut" not in cell else float(bool(cell["shortcut"]))


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
            names += [k for k, v in bench.items() if finite(v) is not None and k not in names]
    return [Column(f"benchmark:{n}", f"benchmark {n}", lambda j, n=n: finite(lookup(j.metrics, "benchmark", n)), "acc")
            for n in names]


def _percentile_columns(jobs: list[JobRecord]) -> list[Column]:
    """The found cell's rank among all the benchmark's cells (%), per accuracy column (``benchmark_percentile``)."""
    names: list[str] = []
    for job in jobs:
        pct = job.metrics.get("benchmark_percentile")
        if isinstance(pct, dict):
            names += [k for k, v in pct.items() if finite(v) is not None and k not in names]
    return [Column(f"benchmark_percentile:{n}", f"benchmark percentile {n}",
                   lambda j, n=n: finite(lookup(j.metrics, "benchmark_percentile", n)), "small") for n in names]


def candidate_columns(jobs: list[JobRecord]) -> list[Column]:
    """Every quantity the summary may show, in display order (those without data are dropped by ``build_report``)."""
    return [
        Column("val_acc", "supernet val_acc", lambda j: finite(j.metrics.get("val_acc")), "acc"),
        Column("test_acc", "test_acc", lambda j: finite(lookup(j.eval, "test_acc")), "acc"),
        *_benchmark_columns(jobs),
        *_percentile_columns(jobs),
        Column("params", "params", lambda j: finite(lookup(j.eval, "params")), "count"),
        Column("flops", "FLOPs", lambda j: finite(lookup(j.eval, "flops")), "count"),
        Column("latency_ms", "latency b=1 (ms)", lambda j: finite(lookup(j.eval, "latency_ms", "batch_1"))),
        Column("distance_to_expert", "distance to expert",
               lambda j: finite(lookup(j.metrics, "topology", "distance_to_expert"))),
        Column("skip_connections", "skips (sum over cells)",
               lambda j: _cell_stat(j, ("skip_count", "skip_connect"), sum), "small"),
        Column("param_free", "parameter-free edges (normal cell)", _param_free, "small"),
        Column("collapsed", "collapsed (share of jobs)", _collapsed, "small"),
        Column("shortcut", "identity shortcut (share of jobs)", _shortcut, "small"),
        Column("conv_depth", "conv depth (mean over cells)",
               lambda j: _cell_stat(j, ("conv_depth",), statistics.fmean), "small"),
        Column("search_seconds", "search (s)", lambda j: finite(j.metrics.get("search_seconds")), "seconds"),
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



# --- numbers -> text -----------------------------------------------------------------------------------------------
_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def format_value(x: float, kind: str, scale: tuple[float, str] | None = None, like: float | None = None) -> str:
    """``x`` as text; ``like``: the value whose form ``x`` takes (a mean's, for its std: a fraction or a percentage)."""
    if kind == "count":
        div, suffix = scale or (1.0, "")
        return f"{x / div:.3g}{suffix}" if suffix else f"{x:.0f}"
    if kind == "acc":
        return f"{x:.4f}" if abs(x if like is None else like) <= 1.5 else f"{x:.2f}"
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
    std = STD_NONE if stat.std is None else format_value(stat.std, kind, scale, like=stat.mean)
    text = f"{format_value(stat.mean, kind, scale)} ± {std}"
    return text + (f" ({stat.n})" if n is not None and stat.n < n else "")
