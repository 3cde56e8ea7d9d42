"""The comparison report of a sweep: read the jobs (``sweep``), summarise them (``columns``, ``summary``), draw the
pictures (``plots``, through ``viz``) and write ``report.md`` (``markdown``). A consumer of finished runs: it reads
their files and imports nothing of search or evaluation.
"""

from .columns import Column, Stat, candidate_columns, format_stat
from .markdown import to_markdown, write_report
from .plots import draw_plots, job_genotype
from .summary import GroupSummary, Report, build_report, jobs_table, summary_table
from .sweep import JobRecord, MissingJob, ReportError, SweepRecord, read_sweep

__all__ = [
    "Column", "GroupSummary", "JobRecord", "MissingJob", "Report", "ReportError", "Stat", "SweepRecord",
    "build_report", "candidate_columns", "draw_plots", "format_stat", "job_genotype", "jobs_table", "read_sweep",
    "summary_table", "to_markdown", "write_report",
]
