"""Writing a sweep report: ``report.md`` (summary, jobs, missing jobs, plots, notes) beside the report's PNGs."""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

from .columns import STD_NONE
from .plots import draw_plots
from .summary import Report, jobs_table, md_table, summary_table


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
              "5 of 8 (NAS-Bench-201: 4 of 6) such edges or no conv on any path; identity shortcut: the share of "
              "jobs whose normal cell (NAS-Bench-201: the cell) has a skip from a cell input into a node that also "
              "receives an edge through a conv, the experts' x + F(x).", ""]
    lines += ["## Jobs", "", jobs_table(report), ""]
    if sweep.missing:
        rows = [[m.name, " ".join(m.overrides), m.reason] for m in sweep.missing]
        lines += ["## Missing or unreadable jobs", "", md_table(["job", "overrides", "reason"], rows), ""]
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
