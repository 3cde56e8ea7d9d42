"""The NAS-Bench-201 macro network (Dong & Yang, 2020), written once for the supernet and the evaluation network.

Stem (3x3 conv + BN to C), three stages of N cells on C, 2C, 4C channels joined by residual reduction blocks,
BN + ReLU, global average pooling, linear. Search and evaluation differ only in the cell placed (``make_cell``) and
what each cell is fed besides its input (``run``'s ``cell_args``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..ops import ResNetBasicblock, nb201_stem

STAGES = 3


class NB201Skeleton(nn.Module):
    """``cells`` holds the stages' cells and the residual blocks between them, in order; ``is_cell`` says which."""

    def __init__(self, make_cell: Callable[[int], nn.Module], *, C: int, N: int, num_classes: int,
                 in_channels: int) -> None:
        super().__init__()
        self.stem = nb201_stem(in_channels, C)
        self.cells = nn.ModuleList()
        self.is_cell: list[bool] = []
        C_prev = C
        for stage in range(STAGES):
            C_curr = C * 2**stage
            if stage > 0:
                self.cells.append(ResNetBasicblock(C_prev, C_curr, 2, affine=True))
                self.is_cell.append(False)
            for _ in range(N):
                self.cells.append(make_cell(C_curr))
                self.is_cell.append(True)
            C_prev = C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def run(self, x: torch.Tensor, *cell_args: Any) -> torch.Tensor:
        """Logits; every cell is called as ``cell(h, *cell_args)``, the residual blocks as ``block(h)``."""
        h = self.stem(x)
        for layer, is_cell in zip(self.cells, self.is_cell):
            h = layer(h, *cell_args) if is_cell else layer(h)
        return self.logits(h)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """The head: BN-ReLU, global pooling, linear classifier of the last layer's output."""
        return self.classifier(self.global_pooling(self.lastact(h)).flatten(1))
