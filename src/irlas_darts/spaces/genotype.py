"""Discrete cells: the ``Genotype`` of the DARTS space and the ``NB201Genotype`` of NAS-Bench-201.

Both share one neutral view, ``edges(cell) -> [(src, dst, op), ...]``, which drawing, topology features and
evaluation networks use so that none of them needs to know the space's own text format.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

Edge = tuple[int, int, str]  # (source node, destination node, op name)


class GenotypeError(ValueError):
    """A genotype that cannot be read or does not fit its space; the message says what was expected."""


@dataclass(frozen=True)
class Genotype:
    """A DARTS-space genotype, field for field the original code's namedtuple.

    ``normal``/``reduce`` hold two ``(op, input)`` pairs per intermediate node in node order; inputs 0 and 1 are
    c_{k-2} and c_{k-1}, 2.. the intermediate nodes.
    """

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    space = "darts"
    cell_types = ("normal", "reduce")
    n_inputs = 2

    def __post_init__(self) -> None:
        for name in ("normal", "reduce"):
            pairs = tuple((str(op), int(i)) for op, i in getattr(self, name))
            object.__setattr__(self, name, pairs)
            if len(pairs) % 2:
                raise GenotypeError(f"Genotype.{name}: expected two (op, input) pairs per node, got {len(pairs)} pairs")
            for k, (_, src) in enumerate(pairs):
                node = self.n_inputs + k // 2
                if not 0 <= src < node:
                    raise GenotypeError(f"Genotype.{name}: node {node} cannot take input {src}")
        for name in ("normal_concat", "reduce_concat"):
            object.__setattr__(self, name, tuple(int(i) for i in getattr(self, name)))

    def edges(self, cell: str = "normal") -> list[Edge]:
        pairs = getattr(self, cell)
        return [(src, self.n_inputs + k // 2, op) for k, (op, src) in enumerate(pairs)]

    def concat(self, cell: str = "normal") -> tuple[int, ...]:
        return getattr(self, f"{cell}_concat")

    # --- I/O -----------------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "normal": [[op, i] for op, i in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, i] for op, i in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Genotype":
        return cls(
            normal=tuple(tuple(p) for p in data["normal"]),
            normal_concat=tuple(data["normal_concat"]),
            reduce=tuple(tuple(p) for p in data["reduce"]),
            reduce_concat=tuple(data["reduce_concat"]),
        )

    def to_text(self) -> str:
        """The original DARTS ``Genotype(...)`` repr, which its ``genotypes.py`` and ``eval()`` read back."""
        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})"
        )

    @classmethod
    def from_text(cls, text: str) -> "Genotype":
        """Parse the DARTS text form without ``eval``: only literals are accepted."""
        text = text.strip()
        match = re.fullmatch(r"Genotype\((.*)\)", text, flags=re.S)
        if not match:
            raise GenotypeError("not a DARTS genotype: expected text of the form 'Genotype(normal=[...], ...)'")
        call = ast.parse(f"f({match.group(1)})", mode="eval").body
        assert isinstance(call, ast.Call)
        fields = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
        missing = {"normal", "normal_concat", "reduce", "reduce_concat"} - fields.keys()
        if missing or call.args:
            raise GenotypeError(f"DARTS genotype text lacks fields {sorted(missing)}")
        return cls.from_json(fields)

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True)
class NB201Genotype:
    """A NAS-Bench-201 cell: ``nodes[j-1]`` lists the ``(op, input)`` pairs entering node j, inputs in order."""

    nodes: tuple[tuple[tuple[str, int], ...], ...]

    space = "nb201"
    cell_types = ("cell",)
    n_inputs = 1

    def __post_init__(self) -> None:
        nodes = tuple(tuple((str(op), int(i)) for op, i in node) for node in self.nodes)
        object.__setattr__(self, "nodes", nodes)
        for j, node in enumerate(nodes, start=1):
            if sorted(i for _, i in node) != list(range(j)):
                raise GenotypeError(f"NB201 node {j} must have exactly one edge from each of nodes 0..{j - 1}")

    def edges(self, cell: str = "cell") -> list[Edge]:
        return [(src, j, op) for j, node in enumerate(self.nodes, start=1) for op, src in node]

    def concat(self, cell: str = "cell") -> tuple[int, ...]:
        return (len(self.nodes),)

    def to_arch_str(self) -> str:
        return "+".join("|" + "|".join(f"{op}~{i}" for op, i in node) + "|" for node in self.nodes)

    @classmethod
    def from_arch_str(cls, arch: str) -> "NB201Genotype":
        arch = arch.strip()
        if not re.fullmatch(r"(\|[^|+]+~\d+)+\|(\+(\|[^|+]+~\d+)+\|)*", arch):
            raise GenotypeError(f"not a NAS-Bench-201 arch string: {arch!r} (expected '|op~0|+|op~0|op~1|+...')")
        nodes = []
        for part in arch.split("+"):
            pairs = []
            for item in part.strip("|").split("|"):
                op, src = item.rsplit("~", 1)
                pairs.append((op, int(src)))
            nodes.append(tuple(pairs))
        return cls(tuple(nodes))

    def to_json(self) -> dict[str, Any]:
        return {"space": self.space, "arch_str": self.to_arch_str(),
                "nodes": [[[op, i] for op, i in node] for node in self.nodes]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "NB201Genotype":
        if "nodes" in data:
            return cls(tuple(tuple(tuple(p) for p in node) for node in data["nodes"]))
        return cls.from_arch_str(data["arch_str"])

    def to_text(self) -> str:
        return self.to_arch_str()

    from_text = from_arch_str

    def __str__(self) -> str:
        return self.to_arch_str()


AnyGenotype = Genotype | NB201Genotype


def genotype_from_json(data: dict[str, Any]) -> AnyGenotype:
    """Read either kind; files without a ``space`` key are DARTS genotypes (the format most tools write)."""
    space = data.get("space", "nb201" if "arch_str" in data or "nodes" in data else "darts")
    if space == "darts":
        return Genotype.from_json(data)
    if space == "nb201":
        return NB201Genotype.from_json(data)
    raise GenotypeError(f"genotype JSON: unknown space {space!r} (expected 'darts' or 'nb201')")


def genotype_from_text(text: str) -> AnyGenotype:
    text = text.strip()
    return Genotype.from_text(text) if text.startswith("Genotype") else NB201Genotype.from_arch_str(text)
