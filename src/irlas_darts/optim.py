"""What search and evaluation share when they train network weights: SGD with momentum under a cosine learning rate
(DARTS' recipe for both), and the error raised when training diverges.

Below both layers, so neither reaches into the other for it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR


class NonFiniteError(RuntimeError):
    """A loss or an alpha became NaN/inf; the caller keeps the last good checkpoint."""


def sgd_cosine(params: Iterable[torch.nn.Parameter], *, lr: float, momentum: float, weight_decay: float,
               epochs: int, lr_min: float) -> tuple[torch.optim.SGD, CosineAnnealingLR]:
    """SGD and its schedule: cosine from ``lr`` down to ``lr_min`` over ``epochs`` (stepped once per epoch)."""
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return optimizer, CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=lr_min)
