"""One clear line and a non-zero exit for the errors a user can fix; the full trace with ``HYDRA_FULL_ERROR=1``."""

from __future__ import annotations

import os
import sys
from typing import Callable, NoReturn, TypeVar

T = TypeVar("T")

EXIT_USAGE = 2  # bad config value, missing/corrupt data, table, genotype or checkpoint
EXIT_DIVERGED = 3  # NaN/inf during a search or an evaluation


def full_error_requested() -> bool:
    """``HYDRA_FULL_ERROR=1``: the user wants the trace, as Hydra itself reads the variable."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def fail(program: str, message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``<program>: error: <message>`` as one line on stderr and exit with ``code``."""
    line = " ".join(str(message).split("\n"))
    print(f"{program}: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types whose message is written for the user (they name the key or file and what to do)."""
    from ..data import DatasetError
    from ..evaluation.benchmark import BenchmarkError
    from ..optim import NonFiniteError
    from ..spaces.genotype import GenotypeError
    from .config import ConfigError
    from .io import CheckpointError

    return (ConfigError, DatasetError, GenotypeError, NonFiniteError, BenchmarkError, CheckpointError)


def run_guarded(program: str, job: Callable[[], T]) -> T:
    """Run ``job``; a user error ends the program with one line (exit 2, or 3 for NaN/inf), no traceback."""
    try:
        return job()
    except user_errors() as err:
        if full_error_requested():
            raise
        from ..optim import NonFiniteError

        fail(program, str(err), EXIT_DIVERGED if isinstance(err, NonFiniteError) else EXIT_USAGE)
