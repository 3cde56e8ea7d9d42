"""The DARTS evaluation networks (Liu et al., 2019): CIFAR (stem + 20 cells) and ImageNet mobile (two stems + 14 cells).

Built from a DARTS-space ``Genotype`` through its neutral ``edges(cell)`` view, with affine BatchNorm. The layout
follows the original evaluation code, so the published genotypes give their papers' parameter counts. Drop path
masks for one forward pass are drawn in a single call from ``self.generator`` (set by the trainer for exact resume;
``None`` = torch's global RNG) instead of one draw per op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import FactorizedReduce, Identity, ReLUConvBN, conv_bn_stem, create_op
from ..spaces import Genotype

N_INPUTS = 2  # c_{k-2}, c_{k-1}


class DartsCell(nn.Module):
    """One discrete cell: each intermediate node sums its genotype edges; the output concatenates ``concat`` nodes."""

    def __init__(self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        kind = "reduce" if reduction else "normal"
        self.reduction = reduction
        # After a reduction cell, c_{k-2} has twice the resolution of c_{k-1}.
        self.preprocess0 = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        edges = genotype.edges(kind)
        self.sources = [src for src, _, _ in edges]
        self.targets = [dst for _, dst, _ in edges]
        self.ops = nn.ModuleList(
            create_op("darts", op, C, 2 if reduction and src < N_INPUTS else 1, affine=True) for src, _, op in edges
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


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier: ReLU, 5x5 avg-pool, 1x1 conv 128, BN, ReLU, 2x2 conv 768, BN, ReLU, linear.

    The pool stride is 3 on CIFAR's 8x8 maps and 2 on ImageNet's 7x7 maps, which leaves 2x2 for the 2x2 conv as in
    the original. Maps too small for that (e.g. 28 px inputs) are pooled to 2x2 adaptively instead, and maps larger
    than expected are averaged after the conv, so the head works on every input size.
    """

    def __init__(self, C: int, num_classes: int, pool_stride: int) -> None:
        super().__init__()
        self.pool_stride = pool_stride
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        side = min(x.shape[-2:])
        if side >= 5 and (side - 5) // self.pool_stride + 1 >= 2:
            x = F.avg_pool2d(x, 5, stride=self.pool_stride, padding=0, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(x.flatten(1))


class _DartsNetwork(nn.Module):
    """The cell stack shared by both networks; subclasses build the stem and say where its output lands."""

    def __init__(self, genotype: Genotype, in_channels: int, C: int, num_classes: int, layers: int, auxiliary: bool,
                 drop_path_prob: float, reduction_prev: bool, aux_pool_stride: int) -> None:
        super().__init__()
        if not isinstance(genotype, Genotype):
            raise TypeError(f"genotype: DARTS networks need a DARTS Genotype, got {type(genotype).__name__}")
        if layers < 3 or C < 2:
            raise ValueError(f"layers={layers}, C={C}: a DARTS network needs layers >= 3 and C >= 2")
        C_stem_prev_prev, C_stem_prev = self.build_stems(in_channels, C)
        self.genotype = genotype
        self.layers = layers
        self.drop_path_prob = float(drop_path_prob)
        self.generator: torch.Generator | None = None  # drop-path masks; the trainer sets its own
        self.aux_position = 2 * layers // 3
        C_prev_prev, C_prev, C_curr = C_stem_prev_prev, C_stem_prev, C
        self.cells = nn.ModuleList()
        C_aux = C_prev
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = DartsCell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self.aux_position:
                C_aux = C_prev
        self.auxiliary_head = AuxiliaryHead(C_aux, num_classes, aux_pool_stride) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    @property
    def auxiliary(self) -> bool:
        return self.auxiliary_head is not None

    def build_stems(self, in_channels: int, C: int) -> tuple[int, int]:
        """Create the stem modules; return the channels of the two tensors they hand the first cell."""
        raise NotImplementedError

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

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
        logits_aux = None
        s0, s1 = self.stems(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, None if masks is None else masks[i], keep_prob)
            if i == self.aux_position and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return logits, logits_aux


class NetworkCIFAR(_DartsNetwork):
    """DARTS' CIFAR network: 3x3 conv stem to 3C channels, ``layers`` cells, reductions at 1/3 and 2/3 depth."""

    stem_multiplier = 3

    def __init__(self, genotype: Genotype, C: int = 36, num_classes: int = 10, layers: int = 20,
                 auxiliary: bool = True, drop_path_prob: float = 0.2, in_channels: int = 3) -> None:
        super().__init__(genotype, in_channels, C, num_classes, layers, auxiliary, drop_path_prob,
                         reduction_prev=False, aux_pool_stride=3)

    def build_stems(self, in_channels: int, C: int) -> tuple[int, int]:
        C_stem = self.stem_multiplier * C
        self.stem = conv_bn_stem(in_channels, C_stem)
        return C_stem, C_stem

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s


class NetworkImageNet(_DartsNetwork):
    """DARTS' ImageNet network (mobile setting): two stride-2 stems take 224 px to 28 px, then ``layers`` cells.

    ``stem0`` (two stride-2 3x3 convs) feeds the first cell as c_{k-2}, ``stem1`` (one more) as c_{k-1}, so the first
    cell sees a reduction behind it.
    """

    def __init__(self, genotype: Genotype, C: int = 48, num_classes: int = 1000, layers: int = 14,
                 auxiliary: bool = True, drop_path_prob: float = 0.0, in_channels: int = 3) -> None:
        super().__init__(genotype, in_channels, C, num_classes, layers, auxiliary, drop_path_prob,
                         reduction_prev=True, aux_pool_stride=2)

    def build_stems(self, in_channels: int, C: int) -> tuple[int, int]:
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C),
        )
        # Not in place: s0 itself also feeds the first cell (the original rectifies it in place, which that
        # cell's leading ReLU makes harmless; computing it out of place gives the same values).
        self.stem1 = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))
        return C, C

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)
