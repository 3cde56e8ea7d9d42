"""A run refused for bad input leaves nothing behind: not even the folder and log file Hydra made for it.

Hydra creates the run directory, its ``.hydra/`` configs and the job's log file before our code sees the config, so a
rejected override (``search.epochs=-1``) used to leave ``outputs/<date>/<time>/`` holding an empty log. When the
program ends with a usage error (exit 2) and the run directory still holds only what Hydra made for this very start
(``.hydra/`` and an empty log, as it did when the job began), those are removed, with the folders between it and
the working directory that become empty (``outputs/<date>/``). A directory that held anything else (a run being resumed, an earlier log) is left as it was.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import EXIT_USAGE

HYDRA_SUBDIR = ".hydra"


def _log_handlers(run_dir: Path) -> list[logging.FileHandler]:
    root = logging.getLogger()
    return [h for h in root.handlers
            if isinstance(h, logging.FileHandler) and Path(h.baseFilename).resolve().parent == run_dir]


def _only_hydras_files(run_dir: Path) -> bool:
    """``run_dir`` holds nothing but ``.hydra/`` and empty log files (what Hydra writes before the job starts)."""
    if not run_dir.is_dir():
        return False
    for entry in run_dir.iterdir():
        if entry.name == HYDRA_SUBDIR and entry.is_dir():
            continue
        if entry.suffix == ".log" and entry.is_file() and entry.stat().st_size == 0:
            continue
        return False
    return True


def _discard(run_dir: Path) -> None:
    for handler in _log_handlers(run_dir):
        logging.getLogger().removeHandler(handler)
        handler.close()
    with contextlib.suppress(OSError):
        shutil.rmtree(run_dir / HYDRA_SUBDIR, ignore_errors=True)
        for log_file in run_dir.glob("*.log"):
            if log_file.stat().st_size == 0:
                log_file.unlink()
        run_dir.rmdir()
        here = Path.cwd().resolve()
        for parent in run_dir.parents:  # outputs/<date>/ and outputs/ below the working directory, when empty
            if not parent.is_relative_to(here) or parent == here:
                break
            parent.rmdir()  # OSError when not empty: stop there


@contextlib.contextmanager
def discard_if_rejected(run_dir: str | Path) -> Iterator[None]:
    """Around a job: on a usage error (exit 2) with nothing but Hydra's files in ``run_dir``, remove them."""
    run_dir = Path(run_dir).resolve()
    fresh = _only_hydras_files(run_dir)
    try:
        yield
    except SystemExit as exit_:
        if fresh and exit_.code == EXIT_USAGE and _only_hydras_files(run_dir):
            _discard(run_dir)
        raise
