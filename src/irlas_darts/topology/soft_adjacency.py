"""Soft adjacency of a cell (SPEC §4.1): which edges exist and what class of op they carry, as smooth functions of alpha.

Two constructors build the same ``CellAdjacency``: ``soft_adjacency`` from the alphas at temperature ``tau``, a
smooth form of the space's own derivation rule, and ``hard_adjacency`` from a genotype's one-hot matrix, which gives
exactly the ``tau -> 0`` limits (``a = 1`` on a kept edge, ``0`` on a dropped one; class mass 1 for the kept op's
class). Features are computed from a ``CellAdjacency`` only, so soft and discrete cells share one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..spaces import SearchSpace

CLASSES = ("conv", "pool", "skip")  # typed-adjacency classes; ``none`` carries no mass


@dataclass
class CellAdjacency:
    """One cell's soft graph; rows follow ``space.edges``.

    keep:      (E,)   a_ij, the probability that edge i->j is kept.
    log_keep:  (E,)   log a_ij, kept apart so that normalising over a node's in-edges stays finite at small tau.
    mass:      (E, 3) c_ij(kappa) for kappa in ``CLASSES``; sums to 1 on an edge that can be kept.
    nonempty:  (n_nodes,) probability that a node keeps at least one in-edge (1 where the rule guarantees one).
    pointwise: (E,)   the share of the edge's mass on pointwise (1x1) convs, part of its conv mass; zero in a space
               without them (``space.pointwise_ops``).
    """

    keep: torch.Tensor
    log_keep: torch.Tensor
    mass: torch.Tensor
    nonempty: torch.Tensor
    pointwise: torch.Tensor

    @property
    def typed(self) -> torch.Tensor:
        """(E, 3) typed adjacency ``A^kappa_ij = a_ij * c_ij(kappa)``."""
        return self.keep.unsqueeze(-1) * self.mass

    def class_mass(self, kind: str) -> torch.Tensor:
        """Soft count of kept edges of one op class; on a genotype's adjacency, exactly its count of such edges."""
        return self.typed[:, CLASSES.index(kind)].sum()

    def parameter_free_mass(self) -> torch.Tensor:
        """Soft count of kept pool and skip edges; on a genotype's adjacency, exactly its parameter-free edges."""
        return self.class_mass("pool") + self.class_mass("skip")


def class_matrix(space: SearchSpace, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """(n_ops, 3) 0/1 matrix: which class each op of the space belongs to (``none`` has an all-zero row)."""
    m = torch.zeros(len(space.ops), len(CLASSES), dtype=dtype, device=device)
    for o, op in enumerate(space.ops):
        kind = space.op_class(op)
        if kind != "none":
            m[o, CLASSES.index(kind)] = 1.0
    return m


def pointwise_vector(space: SearchSpace, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """(n_ops,) 0/1: which ops are pointwise (1x1) convs."""
    return torch.tensor([float(op in space.pointwise_ops) for op in space.ops], dtype=dtype, device=device)


def _in_rows(space: SearchSpace, node: int) -> list[int]:
    return [space.edge_index(i, node) for i in range(node)]


def _top_k(space: SearchSpace) -> int | None:
    """Incoming edges each node keeps under the space's rule; ``None`` means every edge decides alone (NB201)."""
    return getattr(space, "k", None)


def soft_adjacency(space: SearchSpace, alpha: torch.Tensor, tau: float) -> CellAdjacency:
    """Soft graph of one cell from its (E, n_ops) logits; differentiable in ``alpha``."""
    if tau <= 0:
        raise ValueError(f"regularizer.tau={tau} is not valid; it must be > 0")
    none = space.ops.index("none")
    real = [o for o in range(len(space.ops)) if o != none]
    log_p = torch.log_softmax(alpha, dim=-1)
    strength = log_p[:, real].exp().max(dim=-1).values  # s_ij = max_{o != none} p_ij(o)

    k = _top_k(space)
    if k is None:  # NB201: an edge survives when its best real op beats `none`
        z = (strength - log_p[:, none].exp()) / tau
        keep, log_keep = torch.sigmoid(z), F.logsigmoid(z)
    else:  # DARTS: top-k per node, threshold halfway between the k-th and (k+1)-th strongest in-edge
        keep_parts, log_parts = [], []
        for j in space.nodes:
            s = strength[_in_rows(space, j)]
            if len(s) <= k:
                keep_parts.append(torch.ones_like(s))
                log_parts.append(torch.zeros_like(s))
                continue
            top = torch.topk(s, k + 1).values
            z = (s - 0.5 * (top[k - 1] + top[k])) / tau
            keep_parts.append(torch.sigmoid(z))
            log_parts.append(F.logsigmoid(z))
        keep, log_keep = torch.cat(keep_parts), torch.cat(log_parts)

    # softmax over the real ops of log p / tau; log p - logZ cancels, so this is softmax(alpha_real / tau)
    op_weights = torch.softmax(log_p[:, real] / tau, dim=-1)
    mass = op_weights @ class_matrix(space, alpha.dtype, alpha.device)[real]
    pointwise = op_weights @ pointwise_vector(space, alpha.dtype, alpha.device)[real]

    if k is None:
        nonempty = torch.stack([1 - torch.prod(1 - keep[_in_rows(space, j)]) for j in space.nodes])
    else:
        nonempty = keep.new_ones(space.n_nodes)
    return CellAdjacency(keep=keep, log_keep=log_keep, mass=mass, nonempty=nonempty, pointwise=pointwise)


def hard_adjacency(space: SearchSpace, one_hot: torch.Tensor) -> CellAdjacency:
    """Discrete graph of one cell from its (E, n_ops) 0/1 matrix (``space.one_hot``): the tau -> 0 limit."""
    keep = one_hot.sum(dim=-1).clamp(max=1.0)
    log_keep = torch.where(keep > 0, torch.zeros_like(keep), torch.full_like(keep, float("-inf")))
    mass = one_hot @ class_matrix(space, one_hot.dtype, one_hot.device)
    # a dropped edge has an all-zero mass row; its keep of 0 already removes it wherever mass is used
    nonempty = torch.stack([keep[_in_rows(space, j)].sum().clamp(max=1.0) for j in space.nodes])
    pointwise = one_hot @ pointwise_vector(space, one_hot.dtype, one_hot.device)
    return CellAdjacency(keep=keep, log_keep=log_keep, mass=mass, nonempty=nonempty, pointwise=pointwise)
