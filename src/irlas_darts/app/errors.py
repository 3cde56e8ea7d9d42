"""One clear line and a non-zero exit for the errors a user can fix; the full trace with ``HYDRA_FULL_ERROR=1``."""

from __future__ import annotations

import os
import sys
from typing import Callable, TypeVar

T = TypeVar("T")

EXIT_USAGE = 2  # bad config value or missing/corrupt data
EXIT_DIVERGED = 3  # NaN/inf during the search


def user_errors() -> tuple[type[BaseException], ...]:
    from ..data import DatasetError
    from ..search.loop import NonFiniteError
    from ..spaces.genotype import GenotypeError
    from .config import ConfigError

    return (ConfigError, DatasetError, GenotypeError, NonFiniteError)


def run_guarded(program: str, job: Callable[[], T]) -> T:
    try:
        return job()
    except user_errors() as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        from ..search.loop import NonFiniteError

        print(f"{program}: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_DIVERGED if isinstance(err, NonFiniteError) else EXIT_USAGE) from None
