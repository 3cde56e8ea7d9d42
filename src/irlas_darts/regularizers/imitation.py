"""``imitation``: pull the soft cell's features straight onto the expert's (SPEC §4.5).

The strong prior IRLAS argues against, kept as the baseline that shows what the learned, fading w adds:
``loss = lambda * ||mu_soft(alpha) - mu_E||^2`` never fades, so the search is pushed to copy the expert.
"""

from __future__ import annotations

import torch

from ..spaces import Alphas
from .base import Regularizer, register_regularizer


@register_regularizer("imitation")
class Imitation(Regularizer):
    needs_expert = True

    def loss(self, alphas: Alphas) -> torch.Tensor:
        mu = self.soft_features(alphas)
        gap = mu - self._on(self.tracker.mu_expert, mu, "mu_expert")
        return self.lam * (gap @ gap)
