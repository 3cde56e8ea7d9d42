"""``irl``: the mirror stimuli function of IRLAS (SPEC §4.4-4.5), with the changes README "The prior" argues for.

``loss = -lambda * F(mu_soft(alpha))`` with the reward of ``MirrorStimuli`` (default ``mirror``: maximal at the
expert's features; ``linear``: SPEC's ``w . mu``). w is a constant within a step (no gradient flows into the IRL
step); it is ``w^(0) = mu_E - mu^(0)`` from ``start`` until the first IRL step at the end of epoch ``start_epoch``,
then changes only in ``update``. As the search's own cells approach the expert, ``||w||`` shrinks and the prior fades.

The collapse guard (``guard=true``, default). The reward's features pull on identity edges through several entries at
once (inputs reached, shallow depth, shortcuts), and the soft cell of near-uniform alphas (a short search, or any
search's first epochs) hides how many skips its argmax already picks. So, per covered cell and per parameter-free
class (skip, pool): once the cell holds more edges of that class than the expert, counted on the soft cell or on the
genotype the alphas derive, the component of the prior's descent direction that would add more is projected out
(exactly: the smallest change that leaves the skip mass, the pool mass and their sum non-increasing). The prior can then only ever oppose
DARTS' drift to parameter-free ops, never feed it; below the expert's counts it is untouched.
"""

from __future__ import annotations

from typing import Any

import torch

from ..spaces import Alphas, SearchSpace
from ..topology import CellAdjacency, feature_expectation, hard_adjacency, soft_adjacency
from .base import Regularizer, register_regularizer

GUARDED = ("skip", "pool")
DERIVED_TAU = 1e-6  # soft adjacency this sharp is the derived genotype's (the consistency law), computed on-device


@register_regularizer("irl")
class MirrorStimuliRegularizer(Regularizer):
    needs_expert = True

    def __init__(self, space: SearchSpace, **options: Any) -> None:
        super().__init__(space, **options)
        # the expert's edges per guarded class and covered cell (mean over the expert cells)
        self.expert_mass = {
            c: {k: sum(float(hard_adjacency(space, space.one_hot(g)[c].double()).class_mass(k)) for g in self.expert)
                / len(self.expert) for k in GUARDED}
            for c in self.covered
        }

    @property
    def expert_param_free(self) -> dict[str, float]:
        return {c: sum(m.values()) for c, m in self.expert_mass.items()}

    def loss(self, alphas: Alphas) -> torch.Tensor:
        if not self.tracker.started:  # start() not called: the first alphas seen are the initial ones
            self.start(alphas)
        cells = self.soft_cells(alphas)
        mu = feature_expectation(self.space, cells, self.cells, self.gamma)
        w, mu_e = self._on(self.tracker.w, mu, "w"), self._on(self.tracker.mu_expert, mu, "mu_expert")
        loss = -self.lam * self.tracker.reward(mu, w, mu_e)
        if self.guard and loss.requires_grad:
            loss = loss + self._guard_term(loss, alphas, cells)
        return loss

    def _guard_term(self, loss: torch.Tensor, alphas: Alphas, cells: dict[str, CellAdjacency]) -> torch.Tensor:
        """``sum_k c_k * M_k`` with constants c_k >= 0 such that descending the total never raises a guarded M_k."""
        extra = loss.new_zeros(())
        for c, adj in cells.items():
            if not alphas[c].requires_grad:
                continue
            derived = soft_adjacency(self.space, alphas[c].detach(), DERIVED_TAU)
            guarded = [(adj.class_mass(k), derived.class_mass(k), self.expert_mass[c][k]) for k in GUARDED]
            guarded.append((adj.parameter_free_mass(), derived.parameter_free_mass(), self.expert_param_free[c]))
            masses = [m for m, d, e in guarded if max(float(m.detach()), float(d)) > e + 1e-9]
            if not masses:
                continue
            normals = [torch.autograd.grad(m, alphas[c], retain_graph=True)[0].flatten() for m in masses]
            g_loss = torch.autograd.grad(loss, alphas[c], retain_graph=True)[0].flatten()
            extra = extra + sum(k * m for k, m in zip(projection_coefficients(g_loss, normals), masses))
        return extra


def projection_coefficients(g: torch.Tensor, normals: list[torch.Tensor]) -> list[torch.Tensor]:
    """The smallest correction ``sum_k c_k n_k``, ``c >= 0``, with ``(g + sum_k c_k n_k) . n_j >= 0`` for every j.

    Descending ``g + sum c_k n_k`` then changes no ``M_j`` upwards (first order). A handful of constraints: every
    active set is tried (least squares on its normals), the feasible one with the smallest correction wins.
    """
    n = torch.stack(normals).detach()
    a = n @ g.detach()
    gram = n @ n.T
    tol = 1e-9 * (1.0 + float(a.abs().max()))
    best, best_norm = None, float("inf")
    for mask in range(1 << len(normals)):
        active = [j for j in range(len(normals)) if mask >> j & 1]
        c = torch.zeros_like(a)
        if active:
            sub = gram[active][:, active]
            c[active] = torch.linalg.lstsq(sub, -a[active].unsqueeze(-1)).solution.squeeze(-1)
        if bool((c >= -tol).all()) and bool((a + gram @ c >= -tol).all()):
            size = float(c @ gram @ c)
            if size < best_norm:
                best, best_norm = c.clamp_min(0.0), size
    if best is None:  # cannot happen for consistent constraints; keep the prior unguarded rather than fail a step
        best = torch.zeros_like(a)
    return list(best)
