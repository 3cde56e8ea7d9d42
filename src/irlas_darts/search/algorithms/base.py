"""The search algorithm as a plug-in of the one search loop, and its registry; ``darts`` is the base class itself.

An algorithm decides, for the same ``Architect`` and ``Searcher``:

(a) ``forward_probs``: the op weights the supernet runs with during search (DARTS: ``softmax(alpha)``);
(b) ``derivation_probs``: the weights the genotype is derived from and the topology prior reads, and
    ``derivation_logits``, the logits whose softmax the space's rule and the soft adjacency read exactly as them;
(c) ``arch_loss``: an extra architecture-loss term (DrNAS' KL to an anchor; beta-decay, which every algorithm has);
(d) ``start_epoch``: per-epoch schedules (GDAS' temperature; beta-decay's weight);
(e) ``extra_parameters`` / ``adapt_supernet``: architecture parameters held next to the alphas (PC-DARTS' edge
    weights) and a change of the supernet's edges (PC-DARTS' partial channels, GDAS' one-op forward).

Everything an algorithm holds lives in buffers of this module (a submodule of ``Architecture``) or in the
architecture's parameters, so the checkpoint's ``alphas`` entry carries it and a resume is exact.

beta-decay (beta-DARTS, Ye et al., CVPR 2022) is part of the base: ``beta_decay = lambda > 0`` adds
``lambda_t * sum_cells mean_edges logsumexp_o(alpha)``, which pulls each edge's alphas towards equal, small values
and so keeps the softmax from saturating early (the cause of DARTS' collapse the paper names). ``lambda_t`` grows
linearly from 0 at the first epoch to ``lambda`` at the last (``beta_decay_schedule=linear``) or stays ``lambda``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ...spaces import Alphas, SearchSpace

_ALGORITHMS: dict[str, type["Algorithm"]] = {}

BETA_DECAY_SCHEDULES = ("linear", "constant")


def register_algorithm(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        _ALGORITHMS[name] = cls
        cls.name = name
        return cls

    return deco


def create_algorithm(name: str, space: SearchSpace, **options: Any) -> "Algorithm":
    """The algorithm registered as ``name``; the shipped ones register when the package's ``__init__`` imports them."""
    if name not in _ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; choose one of {sorted(_ALGORITHMS)}")
    return _ALGORITHMS[name](space, **options)


def available_algorithms() -> list[str]:
    return sorted(_ALGORITHMS)


def as_logits(space: SearchSpace, log_weights: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax the space's derivation rule and the soft adjacency read exactly as ``exp(log_weights)``.

    ``log_weights``: (E, n_ops) logs of non-negative weights whose rows sum to at most 1 (PC-DARTS' op softmax times
    its edge weight). In a top-k space (DARTS) edges are ranked by their strongest real op, so the weights must be
    kept as they are: the missing mass of a row goes to ``none``, which the rule never ranks. Where every edge
    decides alone (NB201: argmax over the ops, ``none`` included) a per-edge scale changes nothing and the rows are
    renormalised instead.
    """
    if getattr(space, "k", None) is None:
        return torch.log_softmax(log_weights, dim=-1)
    none = space.ops.index("none")
    real = [o for o in range(len(space.ops)) if o != none]
    real_mass = torch.logsumexp(log_weights[:, real], dim=-1).exp().clamp(max=1.0)
    out = log_weights.clone()
    out[:, none] = torch.log1p(-real_mass).clamp_min(torch.finfo(log_weights.dtype).min)
    return out


class Algorithm(nn.Module):
    """Plain DARTS (Liu et al., 2019): softmax for the forward and for the derivation; beta-decay optional."""

    name = "darts"

    def __init__(self, space: SearchSpace, *, beta_decay: float = 0.0, beta_decay_schedule: str = "linear",
                 **unknown: Any) -> None:
        super().__init__()
        if unknown:
            raise TypeError(f"algorithm {self.name!r}: unknown option {sorted(unknown)[0]!r}")
        self._check(beta_decay >= 0, "beta_decay", beta_decay, "it must be >= 0 (0 turns beta-decay off)")
        self._check(beta_decay_schedule in BETA_DECAY_SCHEDULES, "beta_decay_schedule", beta_decay_schedule,
                    f"choose one of {', '.join(BETA_DECAY_SCHEDULES)}")
        self.space = space
        self.beta_decay = float(beta_decay)
        self.beta_decay_schedule = beta_decay_schedule
        if self.beta_decay > 0:  # lambda_t of the current epoch, in the checkpoint (plain DARTS keeps none)
            self.register_buffer("beta_weight", torch.tensor(self._beta_weight(0, 1), dtype=torch.float64))

    def _check(self, ok: bool, key: str, value: Any, fix: str) -> None:
        if not ok:
            raise ValueError(f"algorithm.{key}={value!r} is not valid; {fix}")

    def options(self) -> dict[str, Any]:
        """The settings that define the run (recorded in metrics.json)."""
        return {"name": self.name, "beta_decay": self.beta_decay, "beta_decay_schedule": self.beta_decay_schedule}

    # --- (e) parameters beside the alphas, the supernet's edges ---------------------------------------------------
    def extra_parameters(self, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {}

    def adapt_supernet(self, net: nn.Module) -> nn.Module:
        """The supernet this algorithm searches with (in place where it changes anything); DARTS: as it is."""
        return net

    # --- (a), (b): the relaxation ----------------------------------------------------------------------------------
    def cell_alphas(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {cell: params[cell] for cell in self.space.cell_types}

    def forward_probs(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {cell: torch.softmax(a, dim=-1) for cell, a in self.cell_alphas(params).items()}

    def derivation_probs(self, params: dict[str, torch.Tensor]) -> Alphas:
        return {cell: torch.softmax(a, dim=-1) for cell, a in self.cell_alphas(params).items()}

    def derivation_logits(self, params: dict[str, torch.Tensor]) -> Alphas:
        return self.cell_alphas(params)

    # --- (c), (d): loss term and schedules -------------------------------------------------------------------------
    def arch_loss(self, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return self.beta_decay_loss(params)

    def beta_decay_loss(self, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """beta-DARTS' regulariser ``lambda_t * sum_cells mean_edges logsumexp(alpha)``; None when off."""
        if self.beta_decay == 0:
            return None
        alphas = self.cell_alphas(params)
        smooth_max = sum(torch.logsumexp(a, dim=-1).mean() for a in alphas.values())
        return self.beta_weight.to(smooth_max.dtype) * smooth_max

    def _beta_weight(self, epoch: int, epochs: int) -> float:
        if self.beta_decay_schedule == "constant":
            return self.beta_decay
        return self.beta_decay * epoch / max(epochs - 1, 1)

    def start_epoch(self, epoch: int, epochs: int) -> None:
        if self.beta_decay > 0:
            self.beta_weight.fill_(self._beta_weight(epoch, epochs))

    def state(self) -> dict[str, float]:
        """Scalar schedule values for the epoch's history row (empty for plain DARTS)."""
        return {"beta_weight": float(self.beta_weight)} if self.beta_decay > 0 else {}


register_algorithm("darts")(Algorithm)
