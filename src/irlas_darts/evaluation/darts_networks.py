"""The DARTS evaluation networks (Liu et al., 2019): CIFAR (stem + 20 cells) and ImageNet mobile (two stems + 14 cells).

The shared DARTS skeleton (``networks.darts``) with discrete cells built from a DARTS-space ``Genotype`` through its
neutral ``edges(cell)`` view, with affine BatchNorm. The layout follows the original evaluation code, so the published
genotypes give their papers' parameter counts. Drop path masks for one forward pass are drawn in a single call from
``self.generator`` (set by the trainer for exact resume; ``None`` = torch's global RNG) instead of one draw per op.
"""

from __future__ import annotations

import torch
from torch import nn

from ..networks import N_INPUTS, AuxiliaryHead, CellSlot, DartsCellBase, DartsSkeleton
from ..ops import Identity, create_op
from ..spaces import Genotype

__all__ = ["AuxiliaryHead", "DartsCell", "NetworkCIFAR", "NetworkImageNet"]


class DartsCell(DartsCellBase):
    """One discrete cell: each intermediate node sums its genotype edges; the output concatenates ``concat`` nodes."""

    def __init__(self, genotype: Genotype, slot: CellSlot) -> None:
        super().__init__(slot, affine=True)
        kind = slot.kind
        edges = genotype.edges(kind)
        self.sources = [src for src, _, _ in edges]
        self.targets = [dst for _, dst, _ in edges]
        self.ops = nn.ModuleList(
            create_op("darts", op, slot.C, 2 if slot.reduction and src < N_INPUTS else 1, affine=True)
            for src, _, op in edges
        )
        self.droppable = [not isinstance(op, Identity) for op in self.ops]
        self.n_nodes = max(self.targets) + 1
        self.concat = list(genotype.concat(kind))
        self.multiplier = len(self.concat)

    @property
    def n_edges(self) -> int:
        return len(self.ops)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, keep: torch.Tensor | None = None,
                keep_prob: float = 1.0) -> torch.Tensor:
        """``keep``: (n_edges, N) 0/1 drop-path mask, or ``None`` for no drop path."""
        states: list[torch.Tensor | None] = [self.preprocess0(s0), self.preprocess1(s1)]
        states += [None] * (self.n_nodes - N_INPUTS)
        for k, (src, dst, op) in enumerate(zip(self.sources, self.targets, self.ops)):
            h = op(states[src])
            if keep is not None and self.droppable[k]:
                h = h * (keep[k] / keep_prob).to(h.dtype)[:, None, None, None]
            states[dst] = h if states[dst] is None else states[dst] + h
        return torch.cat([states[i] for i in self.concat], dim=1)


class _GenotypeNetwork(DartsSkeleton):
    """The DARTS skeleton of one genotype's cells, with drop path; ``forward`` returns ``(logits, logits_aux)``."""

    def __init__(self, genotype: Genotype, *, C: int, num_classes: int, layers: int, auxiliary: bool,
                 drop_path_prob: float, in_channels: int, stem: str, aux_pool_stride: int) -> None:
        if not isinstance(genotype, Genotype):
            raise TypeError(f"genotype: DARTS networks need a DARTS Genotype, got {type(genotype).__name__}")
        if layers < 3 or C < 2:
            raise ValueError(f"layers={layers}, C={C}: a DARTS network needs layers >= 3 and C >= 2")
        super().__init__(lambda slot: DartsCell(genotype, slot), C=C, layers=layers, num_classes=num_classes,
                         in_channels=in_channels, stem=stem, auxiliary=auxiliary, aux_pool_stride=aux_pool_stride)
        self.genotype = genotype
        self.layers = layers
        self.drop_path_prob = float(drop_path_prob)
        self.generator: torch.Generator | None = None  # drop-path masks; the trainer sets its own

    def _drop_path_masks(self, batch: int, device: torch.device) -> torch.Tensor | None:
        if not self.training or self.drop_path_prob <= 0.0:
            return None
        keep_prob = 1.0 - self.drop_path_prob
        shape = (len(self.cells), max(c.n_edges for c in self.cells), batch)
        draw_on = self.generator.device if self.generator is not None else device
        return (torch.rand(shape, generator=self.generator, device=draw_on) < keep_prob).to(device)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, logits_aux)``; ``logits_aux`` is ``None`` in eval mode or without the auxiliary head."""
        masks = self._drop_path_masks(x.shape[0], x.device)
        keep_prob = 1.0 - self.drop_path_prob
        return self.run(x, lambda i, cell: (None if masks is None else masks[i], keep_prob))


class NetworkCIFAR(_GenotypeNetwork):
    """DARTS' CIFAR network: 3x3 conv stem to 3C channels, ``layers`` cells, reductions at 1/3 and 2/3 depth."""

    def __init__(self, genotype: Genotype, C: int = 36, num_classes: int = 10, layers: int = 20,
                 auxiliary: bool = True, drop_path_prob: float = 0.2, in_channels: int = 3) -> None:
        super().__init__(genotype, C=C, num_classes=num_classes, layers=layers, auxiliary=auxiliary,
                         drop_path_prob=drop_path_prob, in_channels=in_channels, stem="cifar", aux_pool_stride=3)


class NetworkImageNet(_GenotypeNetwork):
    """DARTS' ImageNet network (mobile setting): two stride-2 stems take 224 px to 28 px, then ``layers`` cells."""

    def __init__(self, genotype: Genotype, C: int = 48, num_classes: int = 1000, layers: int = 14,
                 auxiliary: bool = True, drop_path_prob: float = 0.0, in_channels: int = 3) -> None:
        super().__init__(genotype, C=C, num_classes=num_classes, layers=layers, auxiliary=auxiliary,
                         drop_path_prob=drop_path_prob, in_channels=in_channels, stem="imagenet", aux_pool_stride=2)
