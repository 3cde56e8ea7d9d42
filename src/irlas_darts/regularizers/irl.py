"""``irl``: the mirror stimuli function of IRLAS (SPEC §4.4-4.5), with the changes README "The prior" argues for.

``loss = -lambda * F(mu_soft(alpha))`` with the reward of ``MirrorStimuli`` (default ``mirror``: maximal at the
expert's features; ``linear``: SPEC's ``w . mu``). w is a constant within a step (no gradient flows into the IRL
step); it is ``w^(0) = mu_E - mu^(0)`` from ``start`` until the first IRL step at the end of epoch ``start_epoch``,
then changes only in ``update``. As the search's own cells approach the expert, ``||w||`` shrinks and the prior fades.

The guard (``guard=true``, default) keeps every excess opposed, per position and per cell. Through the class masses of
one edge, pulling a class down raises the others (fewer convs on an edge the expert leaves empty means more skip
mass there), and in a short search the soft cell of near-uniform alphas hides how many skips its argmax already
picks. So, per covered cell and per parameter-free class (skip, pool): at every position (a node's in-edges from one
source, ``typed_in_degree``) that holds more edges of that class than the expert there, and for the cell's skip, pool
and skip + pool totals once they exceed the expert's, counted on the soft cell or on the genotype the alphas derive,
the component of the prior's descent direction that would raise them is projected out (exactly: the smallest change
of the gradient that leaves all of them non-increasing, a non-negative least-squares problem). The prior can then add
a skip only where, and as far as, the expert has one — the shortcut — and never feed DARTS' drift to parameter-free
ops; elsewhere it is untouched. The data's own drift is opposed by ``guard_total`` (default ``derived``): from the
first IRL step on, the masses the *derived* cell holds beyond the expert's go to the architect (``excess_masses``),
which corrects the whole step's gradient (``keep_masses_from_rising``) so that neither the validation loss nor the
prior raises them. Counted on the derived cell only, it leaves the soft cell's spread alone (a near-uniform cell holds
skip and pool mass everywhere) and acts when the argmax itself passes the expert; ``true`` counts the soft cell too,
which cost NAS-Bench-201 cells about half a point on held-out seeds (README "The prior").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..spaces import Alphas, SearchSpace
from ..topology import CLASSES, CellAdjacency, feature_expectation, hard_adjacency, soft_adjacency, typed_in_degree
from .base import Regularizer, register_regularizer

GUARDED = ("skip", "pool")
DERIVED_TAU = 1e-6  # soft adjacency this sharp is the derived genotype's (the consistency law), computed on-device


@register_regularizer("irl")
class MirrorStimuliRegularizer(Regularizer):
    needs_expert = True

    def __init__(self, space: SearchSpace, **options: Any) -> None:
        super().__init__(space, **options)
        # the expert's edges per covered cell, node, source and class (mean over the expert cells)
        self.expert_in_degree = {
            c: torch.stack([typed_in_degree(space, hard_adjacency(space, space.one_hot(g)[c].double()),
                                            self.positions) for g in self.expert]).mean(dim=0)
            for c in self.covered
        }
        self.expert_mass = {c: {k: float(d[..., CLASSES.index(k)].sum()) for k in GUARDED}
                            for c, d in self.expert_in_degree.items()}

    @property
    def expert_param_free(self) -> dict[str, float]:
        return {c: sum(m.values()) for c, m in self.expert_mass.items()}

    def loss(self, alphas: Alphas) -> torch.Tensor:
        if not self.tracker.started:  # start() not called: the first alphas seen are the initial ones
            self.start(alphas)
        cells = self.soft_cells(alphas)
        mu = feature_expectation(self.space, cells, self.cells, self.gamma, self.positions)
        w, mu_e = self._on(self.tracker.w, mu, "w"), self._on(self.tracker.mu_expert, mu, "mu_expert")
        band = self._on(self.tracker.low, mu, "low"), self._on(self.tracker.high, mu, "high")
        loss = -self.lam * self.tracker.reward(mu, w, mu_e, band)
        if self.guard and loss.requires_grad:
            loss = loss + self._guard_term(loss, alphas, cells)
        return loss

    def excess_masses(self, alphas: Alphas) -> list[torch.Tensor]:
        """With ``guard_total``: the guard's masses in excess of the expert's, for the architect to keep the whole
        step (validation loss and prior together) from raising; without it none.

        None before the first IRL step either: the near-uniform cell of the first epoch holds more skip and pool mass
        than the expert everywhere, and holding the data to that would freeze it rather than stop a drift (README
        "The prior": from the first step on, NAS-Bench-201 cells lost their 3x3 convs)."""
        if not self.guard_total or not (self.tracker.steps or self.tracker.converged):
            return []
        return [m for c, adj in self.soft_cells(alphas).items()
                for m in self.guarded_masses(c, adj, soft_adjacency(self.space, alphas[c].detach(), DERIVED_TAU),
                                             counted_on_soft=self.guard_total != "derived")]

    def guarded_masses(self, cell: str, adj: CellAdjacency, derived: CellAdjacency,
                       counted_on_soft: bool = True) -> list[torch.Tensor]:
        """The masses of ``adj`` in excess of the expert's (on ``adj`` or on the ``derived`` cell; with
        ``counted_on_soft=False`` on the derived cell only): per position and guarded class, then the cell's skip,
        pool and skip + pool totals."""
        soft = typed_in_degree(self.space, adj, self.positions)
        hard = typed_in_degree(self.space, derived, self.positions).detach()
        expert = self._on(self.expert_in_degree[cell], soft, f"in_degree.{cell}")
        guarded = []
        for k in (CLASSES.index(k) for k in GUARDED):
            count = torch.maximum(soft[..., k].detach(), hard[..., k]) if counted_on_soft else hard[..., k]
            guarded += [soft[t, src, k] for t, src in (count > expert[..., k] + 1e-9).nonzero().tolist()]
        totals = [(adj.class_mass(k), derived.class_mass(k), self.expert_mass[cell][k]) for k in GUARDED]
        totals.append((adj.parameter_free_mass(), derived.parameter_free_mass(), self.expert_param_free[cell]))
        guarded += [m for m, d, e in totals
                    if (max(float(m.detach()), float(d)) if counted_on_soft else float(d)) > e + 1e-9]
        return guarded

    def _guard_term(self, loss: torch.Tensor, alphas: Alphas, cells: dict[str, CellAdjacency]) -> torch.Tensor:
        """``sum_k c_k * M_k`` with constants c_k >= 0 such that descending the total never raises a guarded M_k."""
        extra = loss.new_zeros(())
        for c, adj in cells.items():
            if not alphas[c].requires_grad:
                continue
            masses = self.guarded_masses(c, adj, soft_adjacency(self.space, alphas[c].detach(), DERIVED_TAU))
            if not masses:
                continue
            # every normal and the loss gradient in one batched backward
            outputs = torch.stack([loss, *masses])
            rows, = torch.autograd.grad(outputs, alphas[c], torch.eye(len(outputs), dtype=loss.dtype, device=loss.device),
                                        retain_graph=True, is_grads_batched=True)
            g_loss, normals = rows[0].flatten(), [r.flatten() for r in rows[1:]]
            extra = extra + sum(k * m for k, m in zip(projection_coefficients(g_loss, normals), masses))
        return extra


def keep_masses_from_rising(grads: list[torch.Tensor], params: list[torch.Tensor], masses: list[torch.Tensor]
                            ) -> list[torch.Tensor]:
    """``g + sum_k c_k grad M_k`` with the smallest ``c >= 0`` such that descending it raises no mass ``M_k``.

    ``grads``: a gradient with respect to ``params``; ``masses``: scalars differentiable in ``params`` (``guard_total``:
    the architect's whole gradient, ``excess_masses``). Parameters a mass does not reach get zero in its normal.
    """
    if not masses:
        return grads
    normals = [torch.cat([n.reshape(-1) for n in torch.autograd.grad(m, params, retain_graph=True,
                                                                      materialize_grads=True)]) for m in masses]
    flat = torch.cat([g.reshape(-1) for g in grads])
    corrected = flat + sum(c * n for c, n in zip(projection_coefficients(flat, normals), normals))
    return [part.view_as(g) for part, g in zip(corrected.split([g.numel() for g in grads]), grads)]


def projection_coefficients(g: torch.Tensor, normals: list[torch.Tensor]) -> list[torch.Tensor]:
    """The smallest correction ``sum_k c_k n_k``, ``c >= 0``, with ``(g + sum_k c_k n_k) . n_j >= 0`` for every j.

    Descending ``g + sum c_k n_k`` then changes no ``M_j`` upwards (first order). It is the projection of g onto the
    cone ``{x : n_j . x >= 0}``, whose dual is the non-negative least-squares problem ``min_{c >= 0} ||g + N^T c||``,
    solved exactly by Lawson and Hanson's active-set method (on the Gram matrix; a few dozen constraints).
    """
    n = torch.stack(normals).detach().to("cpu", torch.float64)
    a = (n @ g.detach().to("cpu", torch.float64)).numpy()
    gram = (n @ n.T).numpy()
    c = _nnls_gram(gram, -a)
    return [torch.as_tensor(ck, dtype=g.dtype, device=g.device) for ck in c]


def _nnls_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``argmin_{c >= 0} c.G.c/2 - rhs.c`` (Lawson-Hanson on normal equations ``G = A^T A``, ``rhs = A^T b``)."""
    k = len(rhs)
    scale = 1.0 + float(np.abs(rhs).max(initial=0.0)) + float(np.abs(gram).max(initial=0.0))
    tol = 1e-12 * scale
    c = np.zeros(k)
    passive = np.zeros(k, dtype=bool)

    def solve(p: np.ndarray) -> np.ndarray:
        s = np.zeros(k)
        idx = np.flatnonzero(p)
        if len(idx):
            s[idx] = np.linalg.lstsq(gram[np.ix_(idx, idx)], rhs[idx], rcond=None)[0]
        return s

    for _ in range(3 * k + 10):
        grad = rhs - gram @ c  # the dual residual; positive entries could lower the objective
        grad[passive] = -np.inf
        j = int(np.argmax(grad)) if k else 0
        if k == 0 or grad[j] <= tol:
            break
        passive[j] = True
        s = solve(passive)
        while np.any(s[passive] <= tol):
            bad = passive & (s <= tol)
            step = np.min(c[bad] / np.maximum(c[bad] - s[bad], 1e-300))
            c = c + step * (s - c)
            passive &= c > tol
            s = solve(passive)
        c = s
    return np.clip(c, 0.0, None)
