"""Apprenticeship learning by the projection method (Abbeel & Ng, 2004), as SPEC §4.4 states it.

``MirrorStimuli`` keeps the projected point mubar, the reward weights ``w = mu_E - mubar`` and the margin
``t = ||w||``. It knows nothing of alphas or genotypes: callers hand it feature expectations, so the same object is
driven by a search (``regularizers``) or by a toy set of candidate points (tests).

The step moves mubar to the point nearest mu_E on the line through mubar and the new mu (SPEC §4.4), with the step
factor clipped to [0, 1] by default, i.e. onto the segment between them. Abbeel & Ng's premises (the new policy is
optimal for w, the expert is feasible) already keep the factor in [0, 1], so clipping changes nothing there; where a
search's policy falls short of them, it keeps mubar a mixture of cells the search actually produced, so the margin
never shrinks for a cell that did not come closer, and the step is Frank-Wolfe with exact line search: mubar
converges to the point of the policies' convex hull nearest to mu_E. ``clip=False`` gives the plain line projection.

The reward has two forms (``form``):

- ``linear``: SPEC's ``F = w . mu``. Unbounded: its optimum is an extreme cell, so once the search has passed the
  expert in a feature the reward keeps pulling it further (e.g. ever more identity edges: the all-skip collapse).
- ``mirror`` (default): ``F = w . mu_E - |w| . |mu - mu_E|``. It equals the linear reward up to a constant on the
  side of each feature where the search still falls short of the expert, and mirrors it on the far side, so it is
  maximal exactly at the expert's features and never grows past them; ``|w_k|`` (learned by the projection steps,
  shrinking as the search nears the expert) stays the feature's weight.

  With several expert cells that disagree on a feature (``low`` < ``high``: ResNeXt's NB201 cells take a 1x1 or a
  3x3 as the branches' first conv), every value between theirs is the expert's: ``|mu - mu_E|`` becomes the
  distance from mu to ``[low, high]``, so the reward is flat there instead of pulling every cell to the midpoint, a
  value no single cell has. Where the cells agree (one expert cell: always) it is the form above, bit for bit.
"""

from __future__ import annotations

from typing import Any

import torch


class MirrorStimuli:
    """IRL state: mubar^(j), w^(j), margin t^(j) and their history; ``F(mu) = w . mu``."""

    FORMS = ("mirror", "linear")

    def __init__(self, mu_expert: torch.Tensor, epsilon: float = 0.01, clip: bool = True, form: str = "mirror",
                 expert_range: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        if epsilon < 0:
            raise ValueError(f"regularizer.epsilon={epsilon} is not valid; it must be >= 0")
        if form not in self.FORMS:
            raise ValueError(f"regularizer.reward={form!r} is not valid; choose one of {', '.join(self.FORMS)}")
        self.form = form
        self.mu_expert = mu_expert.detach().to("cpu", torch.float64).clone()
        low, high = (self.mu_expert, self.mu_expert) if expert_range is None else (
            v.detach().to("cpu", torch.float64).reshape(self.mu_expert.shape) for v in expert_range)
        if bool((low > high).any()):
            raise ValueError("expert_range is (low, high) with low <= high: give the expert cells' (min, max) features")
        # the mean of n equal floats can round past them: widen by that rounding so the range always holds mu_E
        self.low, self.high = torch.minimum(low, self.mu_expert), torch.maximum(high, self.mu_expert)
        self.epsilon = float(epsilon)
        self.clip = bool(clip)
        self.mubar: torch.Tensor | None = None
        self.steps = 0  # j: projection steps taken after mubar^(0)
        self.history: list[dict[str, Any]] = []  # one entry per j = 0, 1, ...: mu, mubar, margin

    # --- the projection method ----------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self.mubar is not None

    def start(self, mu0: torch.Tensor) -> None:
        """mubar^(0) = mu^(0), the policy's features before any search step."""
        self.mubar = self._vector(mu0)
        self.steps = 0
        self.history = [self._record(self.mubar)]

    def step(self, mu: torch.Tensor) -> bool:
        """One projection step with the policy's new features mu^(j); returns whether w changed.

        Once the margin is within epsilon the agent matches the expert and w is frozen.
        """
        if self.mubar is None:
            raise RuntimeError("MirrorStimuli.step before start: call start(mu0) with the initial features first")
        if self.converged:
            return False
        mu = self._vector(mu)
        d = mu - self.mubar
        dd = float(d @ d)
        if dd > 0.0:
            step = float(d @ (self.mu_expert - self.mubar)) / dd
            if self.clip:
                step = min(max(step, 0.0), 1.0)
            self.mubar = self.mubar + step * d
        self.steps += 1
        self.history.append(self._record(mu))
        return True

    @property
    def w(self) -> torch.Tensor:
        if self.mubar is None:
            raise RuntimeError("MirrorStimuli.w before start: call start(mu0) with the initial features first")
        return self.mu_expert - self.mubar

    @property
    def margin(self) -> float:
        return float(torch.linalg.vector_norm(self.w))

    @property
    def converged(self) -> bool:
        return self.started and self.margin <= self.epsilon

    def reward(self, mu: torch.Tensor, w: torch.Tensor | None = None, mu_expert: torch.Tensor | None = None,
               expert_range: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The mirror stimuli function summed over the cell (see the module doc for the two forms).

        w, mu_E and the expert range are constants (no gradient flows into the IRL step); callers on a device may
        pass them already moved there.
        """
        w = (self.w if w is None else w).to(device=mu.device, dtype=mu.dtype)
        if self.form == "linear":
            return w @ mu
        mu_e = (self.mu_expert if mu_expert is None else mu_expert).to(device=mu.device, dtype=mu.dtype)
        low, high = ((self.low, self.high) if expert_range is None else expert_range)
        low, high = (v.to(device=mu.device, dtype=mu.dtype) for v in (low, high))
        # distance from mu to [low, high]; with low == high == mu_E exactly |mu - mu_E| (one term is 0)
        outside = torch.relu(low - mu) + torch.relu(mu - high)
        return w @ mu_e - w.abs() @ outside

    # --- state ----------------------------------------------------------------------------------------------------
    def _vector(self, mu: torch.Tensor) -> torch.Tensor:
        mu = mu.detach().to("cpu", torch.float64).reshape(-1)
        if mu.shape != self.mu_expert.shape:
            raise ValueError(f"feature vector has {mu.numel()} entries, the expert's has {self.mu_expert.numel()}")
        return mu.clone()

    def _record(self, mu: torch.Tensor) -> dict[str, Any]:
        return {"mu": mu.tolist(), "mubar": self.mubar.tolist(), "margin": self.margin}

    def state_dict(self) -> dict[str, Any]:
        """Plain Python and CPU float64 tensors: ``torch.save`` restores it bit for bit."""
        return {
            "mu_expert": self.mu_expert.clone(),
            "epsilon": self.epsilon,
            "mubar": None if self.mubar is None else self.mubar.clone(),
            "steps": self.steps,
            "history": [dict(h) for h in self.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mu_expert = torch.as_tensor(state["mu_expert"], dtype=torch.float64)
        if mu_expert.shape != self.mu_expert.shape or not torch.equal(mu_expert, self.mu_expert):
            raise ValueError("checkpoint IRL state was made with another expert, gamma, regularizer.cells or "
                             "regularizer.positions, or by a release with other features (NB201's 1x1-conv entries, "
                             "then its convs counted apart from them); resume with the same settings and release")
        # epsilon stays as configured: it is a setting, not learned state
        self.mubar = None if state["mubar"] is None else torch.as_tensor(state["mubar"], dtype=torch.float64).clone()
        self.steps = int(state["steps"])
        self.history = [dict(h) for h in state["history"]]
