"""NAS-Bench-201 lookup: the benchmark accuracy of a searched cell, read from a table the user points to.

The table is a CSV file or a pickled pandas DataFrame with one row per architecture (or several, e.g. one per seed:
their values are averaged). Architecture strings are compared in normalized form, so spacing does not matter.
Unpickling can run arbitrary code, so a pickled table is refused unless the caller opts in (``allow_pickle``,
``benchmark.allow_pickle=true``); the message says how to convert it to CSV instead.

The package ships one table, NAS-Bench-201's CIFAR-10 validation accuracy of all 15,625 cells
(``resources/nb201_cifar10_valid.csv``, see ``resources/NB201_LICENSE.txt``): ``packaged_table_path()``. A table
that scores searches must cover the whole space (``require_complete``), or a search would learn only at its end that
its cell is not there; a complete table also ranks a cell among all of them (``percentile``).
"""

from __future__ import annotations

import bisect
import csv
import itertools
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..spaces import NB201_OPS, GenotypeError, NB201Genotype

ARCH_COLUMNS = ("arch_str", "cellstr", "arch")
PACKAGED = "packaged"  # benchmark.table's default: the table shipped in the package
PACKAGED_TABLE = "nb201_cifar10_valid.csv"
NB201_CELLS = len(NB201_OPS) ** 6  # 15,625: every op on each of the 6 edges


def packaged_table_path() -> Path:
    """The shipped NAS-Bench-201 CIFAR-10 validation table (all 15,625 cells)."""
    return Path(str(resources.files("irlas_darts.resources").joinpath(PACKAGED_TABLE)))


def all_arch_strings() -> list[str]:
    """The canonical arch strings of every NAS-Bench-201 cell, in a fixed order."""
    return ["|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops) for ops in itertools.product(NB201_OPS, repeat=6)]


PICKLE_SUFFIXES = (".pkl", ".pickle", ".pd", ".pkl.gz", ".pkl.bz2", ".pkl.xz", ".pkl.zip")
_OP = "(?:" + "|".join(re.escape(op) for op in NB201_OPS) + ")"
# exactly the strings all_arch_strings() lists: the form normalize_arch returns
_CANONICAL = re.compile(r"\|{0}~0\|\+\|{0}~0\|{0}~1\|\+\|{0}~0\|{0}~1\|{0}~2\|".format(_OP))


class BenchmarkError(ValueError):
    """A benchmark table that cannot be read or lacks what was asked; the message names the file."""


def normalize_arch(arch: str | NB201Genotype) -> str:
    """The canonical arch string (raises ``GenotypeError`` for text that is not one)."""
    genotype = arch if isinstance(arch, NB201Genotype) else NB201Genotype.from_arch_str(str(arch))
    return genotype.to_arch_str()


@dataclass
class BenchmarkTable:
    """Accuracy columns per normalized arch string, averaged over the rows of each arch."""

    path: Path
    arch_column: str
    accuracy_columns: list[str]
    rows: dict[str, dict[str, float]] = field(repr=False)
    counts: dict[str, int] = field(repr=False)
    _sorted_columns: dict[str, list[float]] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, arch: str | NB201Genotype) -> dict[str, float]:
        try:
            key = normalize_arch(arch)
        except GenotypeError as exc:
            raise BenchmarkError(f"{self.path}: cannot look up {arch!r}: {exc}") from None
        if key not in self.rows:
            raise BenchmarkError(f"{self.path}: arch {key} not found in column {self.arch_column!r} "
                                 f"({len(self.rows)} archs); check the table is NAS-Bench-201 for this space")
        return dict(self.rows[key])

    def require_complete(self, what: str = "benchmark.table") -> None:
        """Refuse a table that does not hold every NAS-Bench-201 cell (a search may find any of them)."""
        absent = [a for a in all_arch_strings() if a not in self.rows]
        if not absent:
            return
        missing, example = len(absent), absent[0]
        raise BenchmarkError(f"{self.path}: covers {NB201_CELLS - missing:,} of the {NB201_CELLS:,} NAS-Bench-201 cells "
                             f"({missing:,} missing, e.g. {example}); give {what} a table of the whole space")

    def _sorted(self, column: str) -> list[float]:
        if column not in self._sorted_columns:
            self._sorted_columns[column] = sorted(v[column] for v in self.rows.values() if not math.isnan(v[column]))
        return self._sorted_columns[column]

    def percentile(self, arch: str | NB201Genotype, column: str | None = None) -> float:
        """Share (%) of the table's cells that score below ``arch`` in ``column`` (ties count half)."""
        column = column or self.accuracy_columns[0]
        value = self.lookup(arch)[column]
        values = self._sorted(column)
        below = bisect.bisect_left(values, value)
        ties = bisect.bisect_right(values, value) - below
        return 100.0 * (below + 0.5 * ties) / len(values)

    def rank(self, arch: str | NB201Genotype, column: str | None = None) -> int:
        """1 + the number of the table's cells that score above ``arch`` in ``column`` (tied cells share a rank):
        near the top, where a percentile rounds to 100, the rank still tells the cells apart."""
        column = column or self.accuracy_columns[0]
        values = self._sorted(column)
        return 1 + len(values) - bisect.bisect_right(values, self.lookup(arch)[column])

    def best(self, column: str | None = None) -> tuple[str, float]:
        """The cell with the highest value of ``column`` and that value."""
        column = column or self.accuracy_columns[0]
        arch = max((a for a, v in self.rows.items() if not math.isnan(v[column])), key=lambda a: self.rows[a][column])
        return arch, self.rows[arch][column]


def _is_pickle(path: Path) -> bool:
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        return True
    with path.open("rb") as fh:
        return fh.read(1) == b"\x80"  # pickle protocol >= 2 opcode


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, object]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        records = list(reader)
        return list(reader.fieldnames or []), records


def _read_pickle(path: Path) -> tuple[list[str], list[dict[str, object]]]:
    try:
        import pandas as pd
    except ImportError:
        raise BenchmarkError(f"{path}: reading a pickled table needs pandas (pip install pandas) or save it as CSV") \
            from None
    try:
        frame = pd.read_pickle(path)
    except Exception as exc:  # unpickling can fail in many ways; all mean "not a readable table"
        raise BenchmarkError(f"{path}: cannot unpickle the table ({type(exc).__name__}: {exc})") from None
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise BenchmarkError(f"{path}: pickle holds a {type(frame).__name__}, expected a pandas DataFrame")
    if frame.index.name in ARCH_COLUMNS or any(n in ARCH_COLUMNS for n in (frame.index.names or []) if n):
        frame = frame.reset_index()
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    return columns, frame.to_dict("records")


def _to_float(value: object, path: Path, column: str, arch: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BenchmarkError(f"{path}: column {column!r} holds {value!r} for {arch}, not a number") from None


def load_table(
    path: str | os.PathLike[str],
    arch_column: str | None = None,
    accuracy_columns: list[str] | tuple[str, ...] | None = None,
    allow_pickle: bool = False,
) -> BenchmarkTable:
    """Read a CSV or pandas-pickle benchmark table.

    ``arch_column`` defaults to the first of ``arch_str``, ``cellstr``, ``arch`` present; ``accuracy_columns`` to
    every column whose name contains ``acc``. Rows whose arch cell is not an arch string are skipped. A pickled
    table is read only with ``allow_pickle=True``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise BenchmarkError(f"{path}: no such benchmark table; pass the path of a CSV or pandas pickle file")
    try:
        pickled = _is_pickle(path)
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot read the table ({exc.strerror or exc})") from None
    if pickled and not allow_pickle:
        raise BenchmarkError(
            f"{path}: is a pickle, and unpickling can run arbitrary code, so it is not loaded; convert it to CSV "
            f"(python -c \"import pandas as pd; pd.read_pickle('{path}').to_csv('{path.with_suffix('.csv')}', "
            "index=False)\", in an environment you trust) or, if you trust the file, set benchmark.allow_pickle=true")
    try:
        columns, records = _read_pickle(path) if pickled else _read_csv(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BenchmarkError(f"{path}: cannot read the table ({exc})") from None
    if arch_column is None:
        arch_column = next((c for c in ARCH_COLUMNS if c in columns), None)
        if arch_column is None:
            raise BenchmarkError(f"{path}: no arch column among {columns}; name one of {list(ARCH_COLUMNS)} "
                                 "or pass arch_column")
    elif arch_column not in columns:
        raise BenchmarkError(f"{path}: arch_column {arch_column!r} is not a column; columns are {columns}")
    if accuracy_columns is None:
        accuracy_columns = [c for c in columns if "acc" in c.lower() and c != arch_column]
        if not accuracy_columns:
            raise BenchmarkError(f"{path}: no column name contains 'acc' in {columns}; pass accuracy_columns")
    missing = [c for c in accuracy_columns if c not in columns]
    if missing:
        raise BenchmarkError(f"{path}: accuracy column(s) {missing} not in the table; columns are {columns}")

    sums: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for record in records:
        key = str(record[arch_column])
        if not _CANONICAL.fullmatch(key):  # a canonical key (every row as NAS-Bench-201 writes it) needs no parse
            try:
                key = normalize_arch(key)
            except GenotypeError:
                continue
        values = {c: _to_float(record[c], path, c, key) for c in accuracy_columns}
        acc = sums.setdefault(key, dict.fromkeys(accuracy_columns, 0.0))
        for c, v in values.items():
            acc[c] += v
        counts[key] = counts.get(key, 0) + 1
    rows = {k: {c: v / counts[k] for c, v in acc.items()} for k, acc in sums.items()}
    return BenchmarkTable(path, arch_column, list(accuracy_columns), rows, counts)


def lookup_arch(
    path: str | os.PathLike[str],
    arch_str: str | NB201Genotype,
    arch_column: str | None = None,
    accuracy_columns: list[str] | tuple[str, ...] | None = None,
    allow_pickle: bool = False,
) -> dict[str, float]:
    """``{accuracy column: value}`` of one architecture in the table at ``path``."""
    return load_table(path, arch_column, accuracy_columns, allow_pickle).lookup(arch_str)
