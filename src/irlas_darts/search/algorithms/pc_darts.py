"""``pc_darts``: partial channel connections and edge normalisation (Xu et al., "PC-DARTS", ICLR 2020).

Forward: on each edge only ``C/k`` channels pass through the ops (``PartialChannelMixedOp``), and every edge carries
a weight ``beta``, softmax-normalised over the incoming edges of its node, which multiplies the edge's output. Since a
mixed op is linear in its weights, the supernet receives ``softmax(alpha) * beta_norm`` as its op weights; the
partial-channel edge recovers ``beta_norm`` as their sum to scale its bypassed channels. Derivation, as in the paper:
the weight of op o on edge e is ``softmax(alpha_e)_o * beta_norm_e`` (the DARTS rule ranks edges by it; NB201 keeps
every edge, so there beta only shapes the forward). The prior reads the same weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...spaces import Alphas, SearchSpace
from .base import Algorithm, as_logits, register_algorithm
from .edges import PartialChannelMixedOp, replace_mixed_ops


def edge_key(cell: str) -> str:
    return f"{cell}_edges"


@register_algorithm("pc_darts")
class PCDarts(Algorithm):
    def __init__(self, space: SearchSpace, *, k: int = 4, edge_normalization: bool = True, **options: Any) -> None:
        super().__init__(space, **options)
        self._check(isinstance(k, int) and not isinstance(k, bool) and k >= 1, "k", k,
                    "it must be an integer >= 1 (the paper: 4)")
        self.k = int(k)
        self.edge_normalization = bool(edge_normalization)
        self._in_rows = [[space.edge_index(i, j) for i in range(j)] for j in space.nodes]

    def options(self) -> dict[str, Any]:
        return {**super().options(), "k": self.k, "edge_normalization": self.edge_normalization}

    def extra_parameters(self, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        if not self.edge_normalization:
            return {}
        n = len(self.space.edges)
        return {edge_key(c): 1e-3 * torch.randn(n, generator=generator) for c in self.space.cell_types}

    def adapt_supernet(self, net: nn.Module) -> nn.Module:
        replace_mixed_ops(net, lambda op: PartialChannelMixedOp(self.space, op.C, op.stride, self.k))
        return net

    def log_edge_weights(self, params: dict[str, torch.Tensor], cell: str) -> torch.Tensor:
        """(E,) ``log beta_norm``: log-softmax of the edge weights over each node's incoming edges (0 when off)."""
        alpha = params[cell]
        if not self.edge_normalization:
            return alpha.new_zeros(alpha.shape[0])
        beta = params[edge_key(cell)]
        out = torch.empty_like(beta)
        for rows in self._in_rows:
            out[rows] = torch.log_softmax(beta[rows], dim=0)
        return out

    def _log_weights(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {c: torch.log_softmax(a, dim=-1) + self.log_edge_weights(params, c).unsqueeze(-1)
                for c, a in self.cell_alphas(params).items()}

    def forward_probs(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {c: lw.exp() for c, lw in self._log_weights(params).items()}

    def derivation_probs(self, params: dict[str, torch.Tensor]) -> Alphas:
        return self.forward_probs(params)

    def derivation_logits(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {c: as_logits(self.space, lw) for c, lw in self._log_weights(params).items()}
