"""The DARTS macro network (Liu et al., 2019), written once for the supernet and for the evaluation networks.

Stem, ``layers`` cells with reductions at 1/3 and 2/3 depth (channels doubled there), the preprocessing of each
cell's two inputs, an optional auxiliary head at 2/3 depth, global pooling and a linear classifier. Search and
evaluation differ only in the cell placed in each slot (``make_cell``: a mixed-op cell or a genotype cell) and in
what each cell is fed besides its two inputs (``run``'s ``feed``: architecture weights or drop-path masks), as in
NNI's NASNet builder and timm's ``ResNet(block=...)``. Module names and construction order are those of the original
code, so seeded weights, state-dict keys and the published parameter counts stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import FactorizedReduce, ReLUConvBN, conv_bn_stem

N_INPUTS = 2  # a cell reads c_{k-2} and c_{k-1}
STEMS = ("cifar", "imagenet")


@dataclass(frozen=True)
class CellSlot:
    """Where a cell sits in the stack: its channels in and out, and whether it or the cell before it reduces."""

    index: int
    C_prev_prev: int
    C_prev: int
    C: int
    reduction: bool
    reduction_prev: bool

    @property
    def kind(self) -> str:
        return "reduce" if self.reduction else "normal"


class DartsCellBase(nn.Module):
    """What every DARTS cell shares: both inputs brought to ``C`` channels at one resolution.

    After a reduction cell, c_{k-2} has twice the resolution of c_{k-1}, so a factorized reduce halves it; otherwise a
    1x1 ReLU-conv-BN. Subclasses add the nodes and set ``multiplier``, the number of nodes they concatenate.
    """

    multiplier: int

    def __init__(self, slot: CellSlot, affine: bool) -> None:
        super().__init__()
        self.reduction = slot.reduction
        self.preprocess0 = (FactorizedReduce(slot.C_prev_prev, slot.C, affine=affine) if slot.reduction_prev
                            else ReLUConvBN(slot.C_prev_prev, slot.C, 1, 1, 0, affine=affine))
        self.preprocess1 = ReLUConvBN(slot.C_prev, slot.C, 1, 1, 0, affine=affine)


CellFactory = Callable[[CellSlot], DartsCellBase]


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


def reduction_cells(layers: int) -> tuple[int, int]:
    """The indices of the two reduction cells: 1/3 and 2/3 of the depth."""
    return layers // 3, 2 * layers // 3


class DartsSkeleton(nn.Module):
    """Stem, ``layers`` cells made by ``make_cell``, optional auxiliary head, global pooling, linear classifier.

    ``stem="cifar"``: one 3x3 conv + BN to ``stem_multiplier * C`` channels feeds both inputs of the first cell.
    ``stem="imagenet"`` (mobile setting): ``stem0`` (two stride-2 3x3 convs) feeds the first cell as c_{k-2}, ``stem1``
    (one more) as c_{k-1}, so the first cell sees a reduction behind it.
    """

    def __init__(self, make_cell: CellFactory, *, C: int, layers: int, num_classes: int, in_channels: int,
                 stem: str = "cifar", stem_multiplier: int = 3, auxiliary: bool = False,
                 aux_pool_stride: int = 3) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem={stem!r}; use one of {', '.join(STEMS)}")
        self.stem_kind = stem
        C_prev_prev, C_prev, reduction_prev = self._build_stem(stem, in_channels, C, stem_multiplier)
        self.aux_position = 2 * layers // 3
        self.cells = nn.ModuleList()
        reductions = reduction_cells(layers)
        C_curr, C_aux = C, C_prev
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                C_curr *= 2
            cell = make_cell(CellSlot(i, C_prev_prev, C_prev, C_curr, reduction, reduction_prev))
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self.aux_position:
                C_aux = C_prev
        self.auxiliary_head = AuxiliaryHead(C_aux, num_classes, aux_pool_stride) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def _build_stem(self, stem: str, in_channels: int, C: int, stem_multiplier: int) -> tuple[int, int, bool]:
        """Create the stem modules; return the channels of the two tensors they hand the first cell, and whether
        the first cell's c_{k-2} comes at twice the resolution of its c_{k-1}."""
        if stem == "cifar":
            C_stem = stem_multiplier * C
            self.stem = conv_bn_stem(in_channels, C_stem)
            return C_stem, C_stem, False
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C),
        )
        # Not in place: s0 itself also feeds the first cell (the original rectifies it in place, which that
        # cell's leading ReLU makes harmless; computing it out of place gives the same values).
        self.stem1 = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))
        return C, C, True

    @property
    def auxiliary(self) -> bool:
        return self.auxiliary_head is not None

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The first cell's two inputs."""
        if self.stem_kind == "imagenet":
            s0 = self.stem0(x)
            return s0, self.stem1(s0)
        s = self.stem(x)
        return s, s

    def run(self, x: torch.Tensor, feed: Callable[[int, nn.Module], tuple[Any, ...]]
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, logits_aux)``: cell ``i`` is called as ``cell(s0, s1, *feed(i, cell))``; ``logits_aux`` is
        None unless the network is training and has an auxiliary head."""
        logits_aux = None
        s0, s1 = self.stems(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, *feed(i, cell))
            if i == self.aux_position and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.logits(s1), logits_aux

    def logits(self, s1: torch.Tensor) -> torch.Tensor:
        """The head: global pooling and the linear classifier of the last cell's output."""
        return self.classifier(self.global_pooling(s1).flatten(1))
