"""The one interface both search spaces share, and their registry.

A space is pure description: op names, the edges of each cell in alpha-row order, how alphas become a genotype and
back. It holds no network; supernets, topology features and drawing read what they need from here.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Callable

import torch

from .genotype import AnyGenotype

Alphas = dict[str, torch.Tensor]  # cell type -> (n_edges, n_ops) logits

_SPACES: dict[str, Callable[[], "SearchSpace"]] = {}


def register_space(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        _SPACES[name] = cls
        cls.name = name
        return cls

    return deco


def create_space(name: str) -> "SearchSpace":
    if name not in _SPACES:
        raise KeyError(f"unknown search space {name!r}; choose one of {sorted(_SPACES)}")
    return _SPACES[name]()


def available_spaces() -> list[str]:
    return sorted(_SPACES)


@functools.lru_cache(maxsize=None)
def _edge_rows(n_inputs: int, n_nodes: int) -> tuple[tuple[tuple[int, int], ...], dict[tuple[int, int], int]]:
    """The edges in alpha-row order and each edge's row: the features ask for rows hundreds of times a step."""
    edges = tuple((i, j) for j in range(n_inputs, n_inputs + n_nodes) for i in range(j))
    return edges, {e: k for k, e in enumerate(edges)}


class SearchSpace(ABC):
    name: str
    ops: tuple[str, ...]
    cell_types: tuple[str, ...]
    n_inputs: int  # cell input nodes, numbered 0..n_inputs-1
    n_nodes: int  # nodes after the inputs, numbered n_inputs..n_inputs+n_nodes-1
    conv_ops: frozenset[str]
    pool_ops: frozenset[str]
    skip_ops: frozenset[str] = frozenset({"skip_connect"})
    pointwise_ops: frozenset[str] = frozenset()  # 1x1 convs: transform channels, see no neighbours

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """(src, dst) of every edge in alpha-row order: destinations ascending, then sources ascending."""
        return _edge_rows(self.n_inputs, self.n_nodes)[0]

    @property
    def nodes(self) -> range:
        return range(self.n_inputs, self.n_inputs + self.n_nodes)

    @property
    def alpha_shape(self) -> tuple[int, int]:
        return (len(self.edges), len(self.ops))

    def op_class(self, op: str) -> str:
        """``conv``, ``pool``, ``skip`` or ``none`` (SPEC 4.1)."""
        if op == "none":
            return "none"
        if op in self.conv_ops:
            return "conv"
        if op in self.pool_ops:
            return "pool"
        if op in self.skip_ops:
            return "skip"
        raise KeyError(f"op {op!r} is not in the {self.name} space")

    def init_alphas(self, generator: torch.Generator | None = None, scale: float = 1e-3) -> Alphas:
        """Small random logits, as DARTS (``1e-3 * randn``)."""
        return {c: scale * torch.randn(self.alpha_shape, generator=generator) for c in self.cell_types}

    @abstractmethod
    def derive(self, alphas: Alphas) -> AnyGenotype:
        """The discrete genotype the space's rule picks from the alphas."""

    @abstractmethod
    def one_hot(self, genotype: AnyGenotype) -> Alphas:
        """Per cell, an (n_edges, n_ops) 0/1 matrix: the op kept on each edge, an all-zero row for a dropped edge."""

    @abstractmethod
    def genotype_from_json(self, data: dict) -> AnyGenotype: ...

    @abstractmethod
    def genotype_from_text(self, text: str) -> AnyGenotype: ...

    def edge_index(self, src: int, dst: int) -> int:
        try:
            return _edge_rows(self.n_inputs, self.n_nodes)[1][(src, dst)]
        except KeyError:
            raise ValueError(f"({src}, {dst}) is not an edge of the {self.name} space") from None
