"""tqdm bars over each epoch's steps; off when stderr is not a terminal (logs and CI stay clean)."""

from __future__ import annotations

from typing import Callable

from tqdm.auto import tqdm


def progress_bar(desc: str, enabled: bool = True) -> Callable[[int], tqdm]:
    def make(total: int) -> tqdm:
        return tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True, disable=None if enabled else True)

    return make
