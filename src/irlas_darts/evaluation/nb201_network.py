"""The NAS-Bench-201 evaluation network (Dong & Yang, 2020): the benchmark's skeleton (``networks.nb201``) around one
discrete cell.

``none`` edges are not built; a node that receives only ``none`` edges is zero, and ops leaving it are still applied
to that zero (as the benchmark's network does), so outputs and parameter counts equal the benchmark's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..networks import NB201Skeleton
from ..ops import create_op
from ..spaces import NB201Genotype


class NB201Cell(nn.Module):
    """Node j = sum of its non-``none`` incoming ops; the last node is the output."""

    def __init__(self, genotype: NB201Genotype, C: int) -> None:
        super().__init__()
        edges = [(src, dst, op) for src, dst, op in genotype.edges() if op != "none"]
        self.sources = [src for src, _, _ in edges]
        self.targets = [dst for _, dst, _ in edges]
        self.ops = nn.ModuleList(create_op("nb201", op, C, 1, affine=True) for _, _, op in edges)
        self.n_nodes = len(genotype.nodes) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states: list[torch.Tensor | None] = [x] + [None] * (self.n_nodes - 1)
        for src, dst, op in zip(self.sources, self.targets, self.ops):
            inp = states[src]
            h = op(x.mul(0.0) if inp is None else inp)
            states[dst] = h if states[dst] is None else states[dst] + h
        out = states[-1]
        return x.mul(0.0) if out is None else out


class NB201Network(NB201Skeleton):
    """The benchmark's network for one cell; ``forward`` returns ``(logits, None)`` like the DARTS networks."""

    auxiliary = False

    def __init__(self, genotype: NB201Genotype, C: int = 16, N: int = 5, num_classes: int = 10,
                 in_channels: int = 3) -> None:
        if not isinstance(genotype, NB201Genotype):
            raise TypeError(f"genotype: NB201Network needs an NB201Genotype, got {type(genotype).__name__}")
        if N < 1 or C < 1:
            raise ValueError(f"N={N}, C={C}: NB201Network needs N >= 1 cells per stage and C >= 1")
        super().__init__(lambda width: NB201Cell(genotype, width), C=C, N=N, num_classes=num_classes,
                         in_channels=in_channels)
        self.genotype = genotype

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.run(x), None
