"""Reading a Hydra sweep for the comparison report: which jobs were expected, which finished, what each one wrote.

A sweep is read as it lies on disk, finished or not: a job that crashed, has not run yet or left a corrupt file
becomes a ``MissingJob`` with its overrides and the reason, so a report of a partial sweep still says what is absent.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class ReportError(ValueError):
    """A sweep directory that cannot give any report (absent, or without a single finished job)."""


@dataclass
class JobRecord:
    """One finished job: its files as read, plus the identity fields the report groups by."""

    name: str  # job dir relative to the sweep dir ("0", "1", ...; "." for a single run dir)
    path: Path
    number: int | None  # Hydra job number when the sweep's override list is known
    overrides: list[str]
    space: str
    dataset: str
    regularizer: str
    seed: int | None
    metrics: dict[str, Any]
    algorithm: str = "darts"  # the search algorithm (runs made before the algorithm group: darts)
    history: list[dict[str, Any]] = field(default_factory=list)
    eval: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # non-fatal: unreadable history.csv, eval/metrics.json, ...


@dataclass
class MissingJob:
    """An expected job without a usable metrics.json."""

    name: str
    number: int | None
    overrides: list[str]
    reason: str


@dataclass
class SweepRecord:
    root: Path
    overrides: list[str] | None  # the sweep's arguments: hydra.sweeper.params + hydra.overrides.task, when known
    jobs: list[JobRecord]
    missing: list[MissingJob]
    expected: int | None  # number of jobs the sweep's override list makes, when known
    warnings: list[str] = field(default_factory=list)


# --- the sweep's plan ----------------------------------------------------------------------------------------------
def _select(cfg: DictConfig | None, key: str) -> Any:
    if cfg is None:
        return None
    value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=False)
    return value


def _naive_sweep_lists(overrides: list[str]) -> list[list[str]]:
    """Fallback when Hydra's parser cannot expand an override: plain ``key=a,b,c`` comma lists."""
    lists: dict[str, list[str]] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} has no '='")
        lists[key] = [f"{key}={v}" for v in value.split(",")]
    return list(lists.values())


def sweep_job_overrides(overrides: list[str]) -> list[list[str]]:
    """Each job's override list, in Hydra's job numbering: the cartesian product of the sweep lists in key order
    (a repeated key keeps its first position and its last value, as Hydra's BasicSweeper does)."""
    import itertools

    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        lists: dict[str, list[str]] = {}
        for override in OverridesParser.create().parse_overrides(overrides):
            key = override.get_key_element()
            if override.is_sweep_override():
                if not override.is_discrete_sweep():
                    raise ValueError(f"override {key}: not a discrete sweep")
                lists[key] = [f"{key}={v}" for v in override.sweep_string_iterator()]
            else:
                lists[key] = [f"{key}={override.get_value_element_as_str()}"]
        product = list(lists.values())
    except ImportError:
        product = _naive_sweep_lists(overrides)
    return [list(job) for job in itertools.product(*product)]


def read_sweep_plan(root: Path, warnings: list[str]) -> tuple[list[str] | None, list[list[str]] | None]:
    """(the sweep's arguments, each job's overrides) from ``multirun.yaml``; ``None`` where it does not say."""
    path = root / "multirun.yaml"
    if not path.is_file():
        return None, None
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:  # noqa: BLE001 -- any YAML/OmegaConf failure means the same: no plan
        warnings.append(f"multirun.yaml unreadable ({_short(err)}); listing the job dirs found")
        return None, None
    task = _select(cfg, "hydra.overrides.task")
    task = [str(t) for t in task] if isinstance(task, list) else None
    sweeper = _select(cfg, "hydra.sweeper._target_")
    if task is None or (sweeper is not None and sweeper != BASIC_SWEEPER):
        return task, None  # other sweepers (optuna, ...) choose their jobs at run time
    # sweeps set in a config (hydra.sweeper.params, e.g. an experiment file) come first, as Hydra expands them
    params = _select(cfg, "hydra.sweeper.params") or {}
    args = [f"{k}={v}" for k, v in params.items()] + task if isinstance(params, dict) else task
    try:
        return args, sweep_job_overrides(args)
    except Exception as err:  # noqa: BLE001 -- e.g. glob() needs Hydra's config loader
        warnings.append(f"cannot expand the sweep overrides {args} ({_short(err)}); listing the job dirs found")
        return args, None


# --- one job -------------------------------------------------------------------------------------------------------
def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _number(text: str) -> float | str | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else None


def read_history(path: Path) -> list[dict[str, Any]]:
    """history.csv rows with numbers parsed; empty cells (a value the regularizer does not log) become None."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and None in rows[0]:
        raise ValueError("a row has more cells than the header")
    return [{k: _number(v) for k, v in row.items()} for row in rows]


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _read_overrides(job_dir: Path) -> list[str] | None:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception:  # noqa: BLE001
        return None
    return [str(x) for x in data] if isinstance(data, list) else None


def read_job(root: Path, job_dir: Path, number: int | None, expected: list[str] | None) -> JobRecord | MissingJob:
    name = job_dir.relative_to(root).as_posix() if job_dir != root else "."
    overrides = _read_overrides(job_dir)
    overrides = overrides if overrides is not None else list(expected or [])
    if not job_dir.is_dir():
        return MissingJob(name, number, overrides, "no job dir (not run yet)")
    metrics_path = job_dir / "metrics.json"
    if not metrics_path.is_file():
        return MissingJob(name, number, overrides, "no metrics.json (crashed or still running)")
    try:
        metrics = _read_json(metrics_path)
    except (OSError, ValueError) as err:
        return MissingJob(name, number, overrides, f"corrupt metrics.json ({_short(err)})")

    problems: list[str] = []
    cfg = None
    cfg_path = job_dir / ".hydra" / "config.yaml"
    if cfg_path.is_file():
        try:
            cfg = OmegaConf.load(cfg_path)
        except Exception as err:  # noqa: BLE001
            problems.append(f"corrupt .hydra/config.yaml ({_short(err)}); identity taken from metrics.json")
    history: list[dict[str, Any]] = []
    if (job_dir / "history.csv").is_file():
        try:
            history = read_history(job_dir / "history.csv")
        except (OSError, ValueError, csv.Error) as err:
            problems.append(f"corrupt history.csv ({_short(err)})")
    evaluation = None
    if (job_dir / "eval" / "metrics.json").is_file():
        try:
            evaluation = _read_json(job_dir / "eval" / "metrics.json")
        except (OSError, ValueError) as err:
            problems.append(f"corrupt eval/metrics.json ({_short(err)})")

    def ident(key: str, metric: str) -> Any:
        value = _select(cfg, key)
        return value if value is not None else metrics.get(metric)

    seed = ident("seed", "seed")
    try:
        seed = int(seed) if seed is not None else None
    except (TypeError, ValueError):
        seed = None
    return JobRecord(
        name=name, path=job_dir, number=number, overrides=overrides,
        space=str(ident("space.name", "space") or "?"), dataset=str(ident("dataset.name", "dataset") or "?"),
        regularizer=str(ident("regularizer.name", "regularizer") or "?"), seed=seed,
        algorithm=str(_select(cfg, "algorithm.name") or (metrics.get("algorithm") or {}).get("name") or "darts"),
        metrics=metrics, history=history, eval=evaluation, problems=problems,
    )


# --- the whole sweep -----------------------------------------------------------------------------------------------
def _sort_key(path: Path) -> tuple[int, int, str]:
    return (0, int(path.name), "") if path.name.isdigit() else (1, 0, path.name)


def find_job_dirs(root: Path) -> list[Path]:
    """Sub-directories that look like Hydra job dirs (a ``.hydra`` folder or a metrics.json), in job-number order."""
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
             and ((p / ".hydra").is_dir() or (p / "metrics.json").is_file())]
    return sorted(found, key=_sort_key)


def read_sweep(sweep_dir: str | Path) -> SweepRecord:
    """Every expected job of the sweep, finished or not; a single run dir reads as a sweep of one job."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise ReportError(f"sweep dir {str(root)!r} does not exist; "
                          "pass a Hydra multirun directory (multirun/<date>/<time>)")
    warnings: list[str] = []
    task, plan = read_sweep_plan(root, warnings)
    dirs = find_job_dirs(root)
    if not dirs and plan is None and (root / "metrics.json").is_file():
        dirs = [root]

    # expected job k -> its dir: the dir whose overrides.yaml equals job k's overrides, else the dir named k
    assigned: dict[int, Path] = {}
    if plan is not None:
        by_overrides = {}
        for d in dirs:
            ov = _read_overrides(d)
            if ov is not None:
                by_overrides.setdefault(tuple(sorted(ov)), d)
        for k, ov in enumerate(plan):
            d = by_overrides.get(tuple(sorted(ov)))
            if d is not None and d not in assigned.values():
                assigned[k] = d
        for k in range(len(plan)):
            if k not in assigned and (root / str(k)) in dirs and (root / str(k)) not in assigned.values():
                assigned[k] = root / str(k)

    entries: list[JobRecord | MissingJob] = []
    if plan is not None:
        for k, ov in enumerate(plan):
            entries.append(read_job(root, assigned.get(k, root / str(k)), k, ov))
    extra = [d for d in dirs if d not in assigned.values()]
    if plan is not None and extra:
        warnings.append(f"job dirs not in multirun.yaml's sweep, reported as well: {[d.name for d in extra]}")
    for d in extra:
        entries.append(read_job(root, d, int(d.name) if d.name.isdigit() else None, None))

    jobs = [e for e in entries if isinstance(e, JobRecord)]
    missing = [e for e in entries if isinstance(e, MissingJob)]
    if not entries:
        raise ReportError(f"sweep dir {str(root)!r} holds no job (no numbered job dir with .hydra/ or metrics.json, "
                          "no multirun.yaml); pass the directory a multirun (-m) wrote")
    if not jobs:
        raise ReportError(f"sweep dir {str(root)!r} has no finished job yet ({len(missing)} without a metrics.json); "
                          "run the report when a job has finished")
    return SweepRecord(root=root, overrides=task, jobs=jobs, missing=missing,
                       expected=len(plan) if plan is not None else None, warnings=warnings)


def slug(text: str) -> str:
    """A file-name-safe form of a group label."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "group"
