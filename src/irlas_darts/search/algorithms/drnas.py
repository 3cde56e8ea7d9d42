"""``drnas``: Dirichlet architecture distributions (Chen et al., "DrNAS", ICLR 2021).

Each edge's op weights are drawn from ``Dirichlet(beta)`` with concentration ``beta = ELU(alpha) + 1`` (positive
for any alpha), by the reparameterisation trick (``rsample``), at every forward. The architecture loss adds
``kl_scale * sum_edges KL(Dir(beta) || Dir(anchor * 1))``, the paper's anchor regulariser that keeps the
concentrations from growing without bound. Genotype and prior read the Dirichlet mean ``beta / sum(beta)``.
Omitted: the progressive learning of the NAS-Bench-201 / ImageNet versions (partial channels grown in stages, with
pruning of the op set); this is the basic relaxation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet, kl_divergence

from ...spaces import Alphas, SearchSpace
from .base import Algorithm, register_algorithm


def concentration(alpha: torch.Tensor) -> torch.Tensor:
    return F.elu(alpha) + 1


@register_algorithm("drnas")
class DrNAS(Algorithm):
    def __init__(self, space: SearchSpace, *, kl_scale: float = 1e-3, anchor: float = 1.0, **options: Any) -> None:
        super().__init__(space, **options)
        self._check(kl_scale >= 0, "kl_scale", kl_scale, "it must be >= 0")
        self._check(anchor > 0, "anchor", anchor, "it must be > 0 (a Dirichlet concentration)")
        self.kl_scale, self.anchor = float(kl_scale), float(anchor)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "kl_scale": self.kl_scale, "anchor": self.anchor}

    def forward_probs(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {c: Dirichlet(concentration(a)).rsample() for c, a in self.cell_alphas(params).items()}

    def derivation_probs(self, params: dict[str, torch.Tensor]) -> Alphas:
        out = {}
        for c, a in self.cell_alphas(params).items():
            conc = concentration(a)
            out[c] = conc / conc.sum(dim=-1, keepdim=True)
        return out

    def derivation_logits(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {c: p.log() for c, p in self.derivation_probs(params).items()}

    def arch_loss(self, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        terms = []
        if self.kl_scale > 0:
            for a in self.cell_alphas(params).values():
                conc = concentration(a)
                anchor = Dirichlet(torch.full_like(conc, self.anchor))
                terms.append(self.kl_scale * kl_divergence(Dirichlet(conc), anchor).sum())
        decay = self.beta_decay_loss(params)
        if decay is not None:
            terms.append(decay)
        return sum(terms) if terms else None
