"""NATS-Bench (topology search space, ``tss``): a cell's CIFAR-10, CIFAR-100 and ImageNet16-120 accuracies.

NATS-Bench's topology space is NAS-Bench-201's (the same 15,625 cells, the same arch strings), trained on three
datasets. Its files are pickles read through the ``nats_bench`` package (the optional extra ``irlas_darts[nats]``);
unpickling can run code, so they load only with the same explicit opt-in as pickled tables (``allow_pickle``).
Accuracies are those of the 200-epoch training, averaged over the benchmark's seeds:

- ``cifar10_valid_acc``: trained on CIFAR-10's train split, NAS-Bench-201's validation split (``cifar10-valid``);
- ``cifar10_test_acc``: trained on train + valid, the CIFAR-10 test set (``cifar10``);
- ``cifar100_*`` / ``imagenet16_120_*``: the benchmark's own validation and test halves of the test set.

``write_table`` turns the file into a CSV that ``load_table`` (``benchmark.table``) reads later without pickles.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..spaces import GenotypeError, NB201Genotype
from .benchmark import BenchmarkError, normalize_arch

# column -> (NATS-Bench dataset name, key of get_more_info)
COLUMNS: dict[str, tuple[str, str]] = {
    "cifar10_valid_acc": ("cifar10-valid", "valid-accuracy"),
    "cifar10_test_acc": ("cifar10", "test-accuracy"),
    "cifar100_valid_acc": ("cifar100", "valid-accuracy"),
    "cifar100_test_acc": ("cifar100", "test-accuracy"),
    "imagenet16_120_valid_acc": ("ImageNet16-120", "valid-accuracy"),
    "imagenet16_120_test_acc": ("ImageNet16-120", "test-accuracy"),
}
HP = "200"  # the 200-epoch training (NATS-Bench also has 12-epoch runs, hp="12")
INSTALL = "pip install 'irlas_darts[nats]' (or pip install nats_bench)"
PICKLE_FIX = "it is a pickle (unpickling can run code): if you trust the file, set benchmark.allow_pickle=true"


def _create() -> Callable[..., Any]:
    try:
        from nats_bench import create
    except ImportError:
        raise BenchmarkError(f"reading a NATS-Bench file needs the nats_bench package: {INSTALL}") from None
    return create


class NatsBench:
    """A NATS-Bench topology API (or anything with its method names) read for our columns."""

    def __init__(self, api: Any, path: Path) -> None:
        self.api = api
        self.path = path

    def __len__(self) -> int:
        return len(self.api)

    def scores(self, arch: str | NB201Genotype) -> dict[str, float]:
        """The six accuracies (%) of one cell."""
        try:
            key = normalize_arch(arch)
        except GenotypeError as exc:
            raise BenchmarkError(f"{self.path}: cannot look up {arch!r}: {exc}") from None
        index = self.api.query_index_by_arch(key)
        if index is None or index < 0:
            raise BenchmarkError(f"{self.path}: arch {key} is not in this NATS-Bench file; give the topology (tss) file")
        return self._scores(index, key)

    def _scores(self, index: int, key: str) -> dict[str, float]:
        infos: dict[str, dict[str, Any]] = {}
        out = {}
        for column, (dataset, field) in COLUMNS.items():
            if dataset not in infos:
                try:
                    infos[dataset] = self.api.get_more_info(index, dataset, hp=HP, is_random=False)
                except Exception as exc:  # the API raises ValueError / AssertionError / KeyError alike
                    raise BenchmarkError(f"{self.path}: no {dataset} results for {key} ({type(exc).__name__}: {exc}); "
                                         "give the full topology (tss) file") from None
            value = infos[dataset].get(field)
            out[column] = math.nan if value is None else float(value)
        return out

    def rows(self) -> Iterable[tuple[str, dict[str, float]]]:
        """Every cell of the file: (canonical arch string, its accuracies)."""
        for index in range(len(self.api)):
            key = normalize_arch(self.api.arch(index))
            yield key, self._scores(index, key)


def open_nats(path: str | os.PathLike[str], allow_pickle: bool = False,
              create: Callable[..., Any] | None = None) -> NatsBench:
    """Open a NATS-Bench topology file (``NATS-tss-v1_0-3ffb9.pickle.pbz2``) or its fast-mode folder (``...-simple``).

    ``create`` defaults to ``nats_bench.create``; tests pass a stand-in with its signature.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise BenchmarkError(f"{path}: no such NATS-Bench file or folder; pass the topology file "
                             "(NATS-tss-v1_0-3ffb9.pickle.pbz2) or its fast-mode folder (NATS-tss-v1_0-3ffb9-simple)")
    if not allow_pickle:
        raise BenchmarkError(f"{path}: is not loaded: {PICKLE_FIX}, or use a CSV made from it "
                             "(python -m irlas_darts.app.nats_table)")
    create = create or _create()
    try:
        api = create(str(path), "tss", fast_mode=path.is_dir(), verbose=False)
    except Exception as exc:  # a foreign loader: every failure means "not a readable NATS-Bench file"
        raise BenchmarkError(f"{path}: cannot read it as a NATS-Bench topology file ({type(exc).__name__}: {exc})") \
            from None
    return NatsBench(api, path)


def write_table(bench: NatsBench, out: str | os.PathLike[str], progress: Callable[[int], None] | None = None) -> Path:
    """Write ``arch_str`` and the six accuracy columns of every cell to a CSV (atomically)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["arch_str", *COLUMNS])
            for n, (arch, scores) in enumerate(bench.rows(), start=1):
                writer.writerow([arch, *(f"{scores[c]:.4f}" for c in COLUMNS)])
                if progress is not None:
                    progress(n)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out
