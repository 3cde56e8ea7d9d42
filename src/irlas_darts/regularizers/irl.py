"""``irl``: the mirror stimuli function of IRLAS (SPEC §4.4-4.5), with the changes README "The prior" argues for.

``loss = -lambda * F(mu_soft(alpha))`` with the reward of ``MirrorStimuli`` (default ``mirror``: maximal at the
expert's features; ``linear``: SPEC's ``w . mu``). w is a constant within a step (no gradient flows into the IRL
step); it is ``w^(0) = mu_E - mu^(0)`` from ``start`` until the first IRL step at the end of epoch ``start_epoch``,
then changes only in ``update``. As the search's own cells approach the expert, ``||w||`` shrinks and the prior fades.

The collapse guard (``guard=true``, default): in a covered cell whose soft parameter-free mass (kept skip + pool
edges) already exceeds the expert's, the component of the prior's descent direction that would raise that mass is
projected out. The reward's features pull on identity edges through several entries at once (inputs reached, shallow
depth, shortcuts), so without the guard the prior can still add skips to a cell that has too many; with it, the
prior can only ever oppose DARTS' drift to parameter-free ops, never feed it.
"""

from __future__ import annotations

from typing import Any

import torch

from ..spaces import Alphas, SearchSpace
from ..topology import CellAdjacency, feature_expectation, hard_adjacency
from .base import Regularizer, register_regularizer


@register_regularizer("irl")
class MirrorStimuliRegularizer(Regularizer):
    needs_expert = True

    def __init__(self, space: SearchSpace, **options: Any) -> None:
        super().__init__(space, **options)
        # the expert's parameter-free edges per covered cell (mean over the expert cells)
        self.expert_param_free = {
            c: sum(float(hard_adjacency(space, space.one_hot(g)[c].double()).parameter_free_mass())
                   for g in self.expert) / len(self.expert)
            for c in self.covered
        }

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
        """``k * M`` per over-full cell, k a constant that makes the total gradient orthogonal to grad M.

        Written without host synchronisation: the conditions are tensor masks, not Python branches.
        """
        extra = loss.new_zeros(())
        for c, adj in cells.items():
            if not alphas[c].requires_grad:
                continue
            mass = adj.parameter_free_mass()
            g_loss, = torch.autograd.grad(loss, alphas[c], retain_graph=True)
            g_mass, = torch.autograd.grad(mass, alphas[c], retain_graph=True)
            rise = -(g_loss * g_mass).sum()  # descending the loss changes the mass by this much (first order)
            norm2 = (g_mass * g_mass).sum()
            active = (mass.detach() > self.expert_param_free[c]) & (rise > 0) & (norm2 > 0)
            k = torch.where(active, rise / norm2.clamp_min(torch.finfo(norm2.dtype).tiny), torch.zeros_like(rise))
            extra = extra + k.detach() * mass
        return extra
