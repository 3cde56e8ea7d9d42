"""``gdas``: Gumbel-softmax with a hard, straight-through one-op-per-edge forward (Dong & Yang, CVPR 2019).

Every forward draws ``h = one_hot(argmax((log_softmax(alpha) + g) / tau)) + (s - s.detach())`` per edge, with Gumbel
noise ``g`` and ``s = softmax((log_softmax(alpha) + g) / tau)``: exactly one-hot in value, ``s``'s gradient in the
backward. The supernet's edges run the selected op only (``SingleOpMixedOp``). ``tau`` falls linearly from
``tau_max`` at the first epoch to ``tau_min`` at the last (the paper: 10 -> 0.1). The genotype and the prior read
``softmax(alpha)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...spaces import Alphas, SearchSpace
from .base import Algorithm, register_algorithm
from .edges import SingleOpMixedOp, replace_mixed_ops


def hard_gumbel(alpha: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
    """One straight-through Gumbel-softmax sample per row of ``alpha`` (global RNG)."""
    gumbel = -torch.empty_like(alpha).exponential_().log()
    soft = torch.softmax((torch.log_softmax(alpha, dim=-1) + gumbel) / tau, dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, soft.detach().argmax(dim=-1, keepdim=True), 1.0)
    return hard + (soft - soft.detach())  # this order keeps the value exactly one-hot


@register_algorithm("gdas")
class GDAS(Algorithm):
    def __init__(self, space: SearchSpace, *, tau_max: float = 10.0, tau_min: float = 0.1, single_op: bool = True,
                 **options: Any) -> None:
        super().__init__(space, **options)
        self._check(tau_min > 0, "tau_min", tau_min, "it must be > 0")
        self._check(tau_max >= tau_min, "tau_max", tau_max, f"it must be >= algorithm.tau_min ({tau_min})")
        self.tau_max, self.tau_min, self.single_op = float(tau_max), float(tau_min), bool(single_op)
        self.register_buffer("tau", torch.tensor(self.tau_max, dtype=torch.float64))

    def options(self) -> dict[str, Any]:
        return {**super().options(), "tau_max": self.tau_max, "tau_min": self.tau_min, "single_op": self.single_op}

    def adapt_supernet(self, net: nn.Module) -> nn.Module:
        if self.single_op:
            replace_mixed_ops(net, SingleOpMixedOp)
        return net

    def forward_probs(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {c: hard_gumbel(a, self.tau.to(a.dtype)) for c, a in self.cell_alphas(params).items()}

    def start_epoch(self, epoch: int, epochs: int) -> None:
        super().start_epoch(epoch, epochs)
        self.tau.fill_(self.tau_max - (self.tau_max - self.tau_min) * epoch / max(epochs - 1, 1))

    def state(self) -> dict[str, float]:
        return {**super().state(), "tau": float(self.tau)}
