"""``Prior``: the IRLAS topology prior for a search loop that is not ours (the original DARTS, an NB201 search, ...).

Three calls cover a foreign loop: ``prior.loss(alphas)`` added to the architecture loss, ``prior.update(epoch,
alphas)`` at each epoch's end (the IRL step), ``state_dict`` / ``load_state_dict`` beside the caller's checkpoint.
Everything else is delegated to the regularizer ``create_regularizer`` builds, so the drop-in prior is exactly the one
``irlas-search`` uses, whatever that becomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..regularizers import DEFAULTS, Regularizer, create_regularizer
from ..regularizers.irl import keep_masses_from_rising
from ..spaces import Alphas, AnyGenotype, SearchSpace, create_space
from ..topology import expert_cells
from .experts import shipped_expert_texts, shipped_experts
from .layout import AlphaLayout


def _expert_texts(expert: str | Sequence[str | AnyGenotype], space: SearchSpace) -> list[str]:
    """A shipped expert's name, one genotype string, or a list of genotype strings / genotypes -> cell texts."""
    if isinstance(expert, str):
        if expert in shipped_experts():
            return shipped_expert_texts(expert, space)
        if "(" not in expert and "|" not in expert:  # a name, not a cell
            return shipped_expert_texts(expert, space)  # raises: lists the shipped names
        expert = [expert]
    texts = [e if isinstance(e, str) else e.to_text() for e in expert]
    expert_cells(space, texts)  # a one-line ValueError naming the bad cell
    return texts


class Prior:
    """The mirror stimuli prior (or ``imitation`` / ``none``) over a caller's own architecture parameters.

    ``space``: ``"darts"`` or ``"nb201"``; ``expert``: a shipped name (``"resnext"``, ``"resnet"``) or genotype
    strings; ``lam``: the prior's strength; ``ops``: the caller's op order when its columns are not the space's;
    ``options``: further regularizer settings (``tau``, ``gamma``, ``cells``, ``guard``, ...).
    """

    def __init__(
        self,
        space: str | SearchSpace = "darts",
        expert: str | Sequence[str | AnyGenotype] = "resnext",
        lam: float = DEFAULTS["lam"],
        *,
        regularizer: str = "irl",
        ops: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        self.space = create_space(space) if isinstance(space, str) else space
        self.layout = AlphaLayout(self.space, ops)
        self.expert = _expert_texts(expert, self.space)
        self.regularizer: Regularizer = create_regularizer(
            regularizer, self.space, expert=expert_cells(self.space, self.expert), lam=lam, **options)

    def alphas(self, *alphas: Any) -> Alphas:
        """The caller's alphas in our layout (differentiable: a view or an index of the caller's tensors)."""
        return self.layout.to_alphas(*alphas)

    def start(self, *alphas: Any) -> None:
        """Optional: fix the IRL start at these (initial) alphas; otherwise the first alphas ``loss`` sees are used."""
        self.regularizer.start(_detached(self.alphas(*alphas)))

    def loss(self, *alphas: Any) -> torch.Tensor:
        """The term to add to the architecture loss (``-lambda * F(alpha)`` for ``irl``); differentiable."""
        return self.regularizer.loss(self.alphas(*alphas))

    def guard_gradients(self, *alphas: Any) -> None:
        """After your architecture loss's backward, correct the alphas' ``.grad`` so that the step raises no skip or
        pool mass the derived cell holds beyond the expert's (what ``irlas-search``'s architect does; ``guard_total``,
        default ``"derived"``); call it before the optimizer's step. It acts from the first IRL step (``update``) on;
        with ``guard_total=False`` never."""
        params = [t for t in self.layout.caller_tensors(*alphas).values() if t.requires_grad and t.grad is not None]
        masses = self.regularizer.excess_masses(self.alphas(*alphas))
        if not masses or not params:
            return
        for p, g in zip(params, keep_masses_from_rising([p.grad for p in params], params, masses)):
            p.grad = g

    def update(self, epoch: int, *alphas: Any) -> dict[str, Any]:
        """At an epoch's end (``epoch`` from 0): the IRL step when due; returns ``F``, margin, distance, w, genotype."""
        ours = _detached(self.alphas(*alphas))
        genotype = self.space.derive(ours)
        out = self.regularizer.update(epoch, ours, genotype)
        out["genotype"] = genotype.to_text()
        return out

    def genotype(self, *alphas: Any) -> AnyGenotype:
        """The cell the space's rule derives from the caller's alphas."""
        return self.space.derive(_detached(self.alphas(*alphas)))

    def summary(self, *alphas: Any) -> dict[str, Any]:
        """The topology block ``irlas-search`` writes to ``metrics.json`` (features, distance, w, ...)."""
        return self.regularizer.summary(_detached(self.alphas(*alphas)))

    def state_dict(self) -> dict[str, Any]:
        """Plain data and CPU tensors (``torch.load(weights_only=True)`` reads it)."""
        return {"space": self.space.name, "regularizer": self.regularizer.name, "expert": list(self.expert),
                "lam": self.regularizer.lam, "ops": list(self.layout.ops), "state": self.regularizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, mine in (("space", self.space.name), ("regularizer", self.regularizer.name),
                          ("expert", list(self.expert))):
            if state.get(key) != mine:
                raise ValueError(f"prior state was saved with {key}={state.get(key)!r}, this prior has {mine!r}; "
                                 f"build the Prior with the same {key} to load it")
        self.regularizer.load_state_dict(state["state"])

    def __repr__(self) -> str:
        return (f"Prior(space={self.space.name!r}, regularizer={self.regularizer.name!r}, lam={self.regularizer.lam}, "
                f"expert={len(self.expert)} cell(s), ops={'default' if self.layout.identity else list(self.layout.ops)})")


def _detached(alphas: Alphas) -> Alphas:
    return {c: a.detach() for c, a in alphas.items()}
