"""``irl``: the mirror stimuli function of IRLAS (SPEC §4.4-4.5).

``loss = -lambda * F(alpha) = -lambda * w . mu_soft(alpha)``. w is a constant within a step (no gradient flows into
the IRL step); it is ``w^(0) = mu_E - mu^(0)`` from ``start`` until the first IRL step at the end of epoch
``start_epoch``, then changes only in ``update``. As the search's own cells approach the expert, ``||w||`` shrinks
and the prior fades.
"""

from __future__ import annotations

import torch

from ..spaces import Alphas
from .base import Regularizer, register_regularizer


@register_regularizer("irl")
class MirrorStimuliRegularizer(Regularizer):
    needs_expert = True

    def loss(self, alphas: Alphas) -> torch.Tensor:
        if not self.tracker.started:  # start() not called: the first alphas seen are the initial ones
            self.start(alphas)
        mu = self.soft_features(alphas)
        return -self.lam * (self._on(self.tracker.w, mu, "w") @ mu)
