"""Topology features ``phi`` and the feature expectation ``mu`` (SPEC §4.2, with positions kept; README "The prior").

One implementation serves the soft cell and a discrete genotype: both are first turned into a ``CellAdjacency``
(``soft_adjacency`` / ``hard_adjacency``) and everything below reads only that. Hence the consistency law: as
``tau -> 0`` the soft features of the alphas equal the features of the genotype the space derives from them.

Per intermediate node t (NB201: nodes 1..3, the last being the output), in this order:

    <class>_from_<source>          typed in-degree by source: sum over the source's edges of A^kappa_it, for
                                   kappa in conv, pool, skip and source in input0 (, input1), nodes
                                   (``positions="edges"``: every earlier node its own source, node<j>); in a space
                                   with a pointwise op, conv counts the convs that see their neighbours only
    pointwise_from_<source>        the kept 1x1 convs by source (sum of a_it * c_it(1x1)), only in a space with a
                                   pointwise op (``space.pointwise_ops``: NB201's nor_conv_1x1; DARTS has none)
    depth<d>, d = 0..n_nodes       conv-depth distribution delta_t (a random kept in-edge followed back to an input)
    consumed                       u_t = 1 - prod_{j>t} (1 - a_tj): t feeds a later node, not only the output
    residual                       r_t = (sum_{i input} A^skip_it) * min(1, sum_i A^conv_it)

``mu = (gamma^(t-1) phi(s_t))_t`` per cell: the node index is part of the state, so every node keeps its own
entries instead of SPEC's sum over nodes. With the sum, an identity edge counted the same wherever it sat (and more on
the first node, where the discount weighs most), so the prior could only say "about one skip", never "a skip from the
input into the output node beside the conv branches"; with the node kept, and the typed in-degree split by where the
edge comes from, the expert's shortcut has an entry of its own. Covered cells are concatenated in order (DARTS:
normal, then reduce). Lengths per cell: DARTS 4 nodes x 16, NB201 3 x 14 (``positions="edges"``: 4 x 22, 3 x 18).
The pointwise entries tell a 1x1 from a conv that sees its neighbours, as IRLAS' state tells kernel sizes apart:
without them the prior kept the expert's shortcut but left which conv to the short search, which preferred the 1x1.
The two are disjoint classes, not a class and a part of it: with the 1x1s counted among the convs as well, the conv
entry paid a 1x1 as much as a 3x3, and only the pointwise entry's weight, about the soft cell's small 1x1 share,
told them apart; three of five ResNet-expert searches kept a 1x1 where ResNet has a 3x3 (README "The prior").

``positions`` says how finely a position is resolved. ``sources`` (default) lumps a node's in-edges from the earlier
intermediate nodes together, so the prior says "a skip from the input into the output node" but not which
intermediate node another skip may come from; ``edges`` gives every edge its own entries, so an expert whose
shortcut or empty edges sit between intermediate nodes (ResNet's 2->3 skip beside an empty 1->3) is told apart.

delta_t is multiplied by the probability that node t keeps any in-edge (``CellAdjacency.nonempty``): the smooth form
of SPEC's "a node with no kept in-edge has delta = 0", without which the law fails for empty NB201 nodes.
"""

from __future__ import annotations

import torch

from ..spaces import Alphas, AnyGenotype, SearchSpace
from .soft_adjacency import CLASSES, CellAdjacency, hard_adjacency, soft_adjacency

CONV, POOL, SKIP = (CLASSES.index(c) for c in ("conv", "pool", "skip"))
POSITIONS = ("sources", "edges")


def covered_cells(space: SearchSpace, cells: str = "normal") -> tuple[str, ...]:
    """Cell types the features cover: ``normal`` or ``both`` (DARTS); NB201 has its one cell either way."""
    if cells not in ("normal", "both"):
        raise ValueError(f"regularizer.cells={cells!r} is not valid; choose normal or both")
    if len(space.cell_types) == 1 or cells == "both":
        return tuple(space.cell_types)
    return ("normal",)


def _sources(space: SearchSpace, positions: str = "sources") -> list[str]:
    """Where an in-edge comes from: each cell input on its own, then the earlier intermediate nodes together
    (``sources``) or each on its own (``edges``)."""
    if positions not in POSITIONS:
        raise ValueError(f"regularizer.positions={positions!r} is not valid; choose one of {', '.join(POSITIONS)}")
    inputs = [f"input{i}" for i in range(space.n_inputs)]
    if positions == "edges":
        return inputs + [f"node{j}" for j in list(space.nodes)[:-1]]
    return inputs + ["nodes"]


def node_feature_names(space: SearchSpace, positions: str = "sources") -> list[str]:
    """Names of phi(s_t)'s entries (the same for every node t)."""
    names = [f"{kind}_from_{src}" for src in _sources(space, positions) for kind in CLASSES]
    if space.pointwise_ops:
        names += [f"pointwise_from_{src}" for src in _sources(space, positions)]
    names += [f"depth{d}" for d in range(space.n_nodes + 1)]
    return names + ["consumed", "residual"]


def feature_names(space: SearchSpace, cells: str = "normal", positions: str = "sources") -> list[str]:
    """Label of every entry of ``mu`` (and of ``w``), e.g. ``normal.node3.skip_from_input1``."""
    return [f"{cell}.node{node}.{name}" for cell in covered_cells(space, cells) for node in space.nodes
            for name in node_feature_names(space, positions)]


def _normalise(log_weights: torch.Tensor) -> torch.Tensor:
    """``a / sum(a)`` from ``log a``, stable at small tau; all-zero weights (all ``-inf``) give zeros."""
    finite = torch.isfinite(log_weights.max())
    safe = torch.where(finite, log_weights, torch.zeros_like(log_weights))
    return torch.softmax(safe, dim=0) * finite


def typed_in_degree(space: SearchSpace, adj: CellAdjacency, positions: str = "sources") -> torch.Tensor:
    """(n_nodes, n_sources, 3): kept in-edges of every node by source (``_sources``) and class.

    The positions the prior and its guard speak of: on a genotype's adjacency, exact edge counts. With ``edges`` a
    node's rows for sources at or after itself are zero.
    """
    return _by_source(space, adj.typed, positions)


def _by_source(space: SearchSpace, typed: torch.Tensor, positions: str) -> torch.Tensor:
    """(n_nodes, n_sources, K) from per-edge (E, K) masses: each node's in-edges summed per source."""
    n_in, n_src = space.n_inputs, len(_sources(space, positions))
    out = []
    for node in space.nodes:
        rows = typed[[space.edge_index(i, node) for i in range(node)]]
        if positions == "edges":
            out.append(torch.cat([rows, rows.new_zeros(n_src - node, rows.shape[1])]))
        else:
            out.append(torch.cat([rows[:n_in], rows[n_in:].sum(dim=0, keepdim=True)]))
    return torch.stack(out)


def node_features(space: SearchSpace, adj: CellAdjacency, positions: str = "sources") -> torch.Tensor:
    """phi(s_t) for every intermediate node t: an (n_nodes, F) tensor, differentiable in the adjacency."""
    typed = adj.typed
    by_source = typed_in_degree(space, adj, positions)
    # kept pointwise (1x1) convs by source, in a space that has them: where the expert's convs see neighbours
    pointwise = (_by_source(space, (adj.keep * adj.pointwise).unsqueeze(-1), positions).flatten(1)
                 if space.pointwise_ops else by_source.new_zeros(space.n_nodes, 0))
    if space.pointwise_ops:  # a 1x1 is counted by its pointwise entry, not also as a conv
        by_source = by_source.clone()
        by_source[..., CONV] -= pointwise
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

        rows_out.append(torch.cat([by_source[t].flatten(), pointwise[t], delta, consumed.reshape(1),
                                   residual.reshape(1)]))
    return torch.stack(rows_out)


def cell_feature_expectation(
    space: SearchSpace, adj: CellAdjacency, gamma: float = 0.9, positions: str = "sources"
) -> torch.Tensor:
    """``(gamma^(t-1) phi(s_t))_t`` for one cell: the discounted features of every node, node by node."""
    phi = node_features(space, adj, positions)
    discount = gamma ** torch.arange(phi.shape[0], dtype=phi.dtype, device=phi.device)
    return (discount.unsqueeze(-1) * phi).flatten()


def feature_expectation(
    space: SearchSpace, adjacency: dict[str, CellAdjacency], cells: str = "normal", gamma: float = 0.9,
    positions: str = "sources",
) -> torch.Tensor:
    """mu over the covered cells, concatenated in ``covered_cells`` order."""
    return torch.cat([cell_feature_expectation(space, adjacency[c], gamma, positions)
                      for c in covered_cells(space, cells)])


def soft_feature_expectation(
    space: SearchSpace, alphas: Alphas, tau: float, cells: str = "normal", gamma: float = 0.9,
    positions: str = "sources",
) -> torch.Tensor:
    """mu_soft(alpha): differentiable in the alphas, in their dtype and device."""
    adjacency = {c: soft_adjacency(space, alphas[c], tau) for c in covered_cells(space, cells)}
    return feature_expectation(space, adjacency, cells, gamma, positions)


def genotype_feature_expectation(
    space: SearchSpace, genotype: AnyGenotype, cells: str = "normal", gamma: float = 0.9,
    dtype: torch.dtype = torch.float64, positions: str = "sources",
) -> torch.Tensor:
    """mu of a discrete genotype (on the CPU), through its one-hot form and the same feature code."""
    one_hot = space.one_hot(genotype)
    adjacency = {c: hard_adjacency(space, one_hot[c].to(dtype)) for c in covered_cells(space, cells)}
    return feature_expectation(space, adjacency, cells, gamma, positions)
