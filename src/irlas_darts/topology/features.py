"""Topology features ``phi`` and the feature expectation ``mu`` (SPEC §4.2).

One implementation serves the soft cell and a discrete genotype: both are first turned into a ``CellAdjacency``
(``soft_adjacency`` / ``hard_adjacency``) and everything below reads only that. Hence the consistency law: as
``tau -> 0`` the soft features of the alphas equal the features of the genotype the space derives from them.

Per intermediate node t (NB201: nodes 1..3, the last being the output), in this order:

    in_conv, in_pool, in_skip      typed in-degree  sum_i A^kappa_it
    from_input<i> (one per input)  kept in-edge from cell input i              a_it
    from_nodes                     kept in-edges from earlier intermediate nodes
    depth<d>, d = 0..n_nodes       conv-depth distribution delta_t (a random kept in-edge followed back to an input)
    consumed                       u_t = 1 - prod_{j>t} (1 - a_tj): t feeds a later node, not only the output
    residual                       r_t = (sum_{i input} A^skip_it) * min(1, sum_i A^conv_it)

``mu = sum_t gamma^(t-1) phi(s_t)`` per cell; covered cells are concatenated in order (DARTS: normal, then reduce).
Lengths: DARTS 13 per cell, NB201 11.

delta_t is multiplied by the probability that node t keeps any in-edge (``CellAdjacency.nonempty``): the smooth form
of SPEC's "a node with no kept in-edge has delta = 0", without which the law fails for empty NB201 nodes.
"""

from __future__ import annotations

import torch

from ..spaces import Alphas, AnyGenotype, SearchSpace
from .soft_adjacency import CLASSES, CellAdjacency, hard_adjacency, soft_adjacency

CONV, POOL, SKIP = (CLASSES.index(c) for c in ("conv", "pool", "skip"))


def covered_cells(space: SearchSpace, cells: str = "normal") -> tuple[str, ...]:
    """Cell types the features cover: ``normal`` or ``both`` (DARTS); NB201 has its one cell either way."""
    if cells not in ("normal", "both"):
        raise ValueError(f"regularizer.cells={cells!r} is not valid; choose normal or both")
    if len(space.cell_types) == 1 or cells == "both":
        return tuple(space.cell_types)
    return ("normal",)


def node_feature_names(space: SearchSpace) -> list[str]:
    names = ["in_conv", "in_pool", "in_skip"]
    names += [f"from_input{i}" for i in range(space.n_inputs)] + ["from_nodes"]
    names += [f"depth{d}" for d in range(space.n_nodes + 1)]
    return names + ["consumed", "residual"]


def feature_names(space: SearchSpace, cells: str = "normal") -> list[str]:
    """Label of every entry of ``mu`` (and of ``w``), e.g. ``normal.in_conv``."""
    return [f"{cell}.{name}" for cell in covered_cells(space, cells) for name in node_feature_names(space)]


def _normalise(log_weights: torch.Tensor) -> torch.Tensor:
    """``a / sum(a)`` from ``log a``, stable at small tau; all-zero weights (all ``-inf``) give zeros."""
    finite = torch.isfinite(log_weights.max())
    safe = torch.where(finite, log_weights, torch.zeros_like(log_weights))
    return torch.softmax(safe, dim=0) * finite


def node_features(space: SearchSpace, adj: CellAdjacency) -> torch.Tensor:
    """phi(s_t) for every intermediate node t: an (n_nodes, F) tensor, differentiable in the adjacency."""
    typed = adj.typed
    n_in = space.n_inputs
    depth_bins = space.n_nodes + 1
    start = adj.keep.new_zeros(depth_bins)
    start[0] = 1.0
    depth = [start] * n_in  # cell inputs sit at conv depth 0
    rows_out = []
    for t, node in enumerate(space.nodes):
        rows = [space.edge_index(i, node) for i in range(node)]
        a, a_typed = adj.keep[rows], typed[rows]
        by_class = a_typed.sum(dim=0)

        prev = torch.stack(depth)  # (node, bins): depth distribution of every source
        shifted = torch.cat([prev.new_zeros(node, 1), prev[:, :-1]], dim=1)
        conv = adj.mass[rows, CONV].unsqueeze(-1)
        mixed = conv * shifted + (1 - conv) * prev
        delta = adj.nonempty[t] * (_normalise(adj.log_keep[rows]).unsqueeze(-1) * mixed).sum(dim=0)
        depth.append(delta)

        later = [space.edge_index(node, j) for j in range(node + 1, n_in + space.n_nodes)]
        consumed = 1 - torch.prod(1 - adj.keep[later]) if later else a.new_zeros(())
        residual = a_typed[:n_in, SKIP].sum() * torch.clamp(by_class[CONV], max=1.0)

        rows_out.append(torch.cat([
            by_class, a[:n_in], a[n_in:].sum().reshape(1), delta, consumed.reshape(1), residual.reshape(1),
        ]))
    return torch.stack(rows_out)


def cell_feature_expectation(space: SearchSpace, adj: CellAdjacency, gamma: float = 0.9) -> torch.Tensor:
    """``sum_t gamma^(t-1) phi(s_t)`` for one cell."""
    phi = node_features(space, adj)
    discount = gamma ** torch.arange(phi.shape[0], dtype=phi.dtype, device=phi.device)
    return discount @ phi


def feature_expectation(
    space: SearchSpace, adjacency: dict[str, CellAdjacency], cells: str = "normal", gamma: float = 0.9
) -> torch.Tensor:
    """mu over the covered cells, concatenated in ``covered_cells`` order."""
    return torch.cat([cell_feature_expectation(space, adjacency[c], gamma) for c in covered_cells(space, cells)])


def soft_feature_expectation(
    space: SearchSpace, alphas: Alphas, tau: float, cells: str = "normal", gamma: float = 0.9
) -> torch.Tensor:
    """mu_soft(alpha): differentiable in the alphas, in their dtype and device."""
    adjacency = {c: soft_adjacency(space, alphas[c], tau) for c in covered_cells(space, cells)}
    return feature_expectation(space, adjacency, cells, gamma)


def genotype_feature_expectation(
    space: SearchSpace, genotype: AnyGenotype, cells: str = "normal", gamma: float = 0.9,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """mu of a discrete genotype (on the CPU), through its one-hot form and the same feature code."""
    one_hot = space.one_hot(genotype)
    adjacency = {c: hard_adjacency(space, one_hot[c].to(dtype)) for c in covered_cells(space, cells)}
    return feature_expectation(space, adjacency, cells, gamma)
