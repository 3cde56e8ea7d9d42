"""The two supernets (DARTS and NAS-Bench-201) and ``create_supernet``.

A supernet holds network weights only; the architecture arrives at every call as
``probs = {cell_type: (n_edges, n_ops) softmax weights}`` (``Architecture.probs()``), rows in ``SearchSpace.edges``
order. Keeping alphas out lets them have their own optimizer, checkpoint entry and all-reduce.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import FactorizedReduce, ReLUConvBN, ResNetBasicblock, conv_bn_stem, nb201_stem
from ..spaces import SearchSpace, create_space
from .mixed_op import MixedOp


def _check_probs(probs: dict[str, torch.Tensor], space: SearchSpace, n_edges: int) -> None:
    for cell in space.cell_types:
        if cell not in probs:
            raise KeyError(f"probs has no entry {cell!r}; pass Architecture.probs() of the {space.name} space")
        if probs[cell].shape != (n_edges, len(space.ops)):
            raise ValueError(f"probs[{cell!r}] has shape {tuple(probs[cell].shape)}; "
                             f"expected ({n_edges}, {len(space.ops)})")


class _Supernet(nn.Module):
    """Shared plumbing: the optional channels-last memory format (faster convolutions on CUDA tensor cores)."""

    channels_last: bool = False

    def _set_memory_format(self, channels_last: bool) -> None:
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class DartsSearchCell(nn.Module):
    """``steps`` nodes, each summing a MixedOp of every earlier state; output = concat of the last ``multiplier``."""

    def __init__(self, space: SearchSpace, steps: int, multiplier: int, C_prev_prev: int, C_prev: int, C: int,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.steps = steps
        self.multiplier = multiplier
        self.preprocess0 = (FactorizedReduce(C_prev_prev, C, affine=False) if reduction_prev
                            else ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False))
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self.edges = [(i, j) for j in range(2, 2 + steps) for i in range(j)]
        self.mixed = nn.ModuleList(
            MixedOp(space, C, 2 if reduction and i < 2 else 1) for i, _ in self.edges
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        activated = [F.relu(s) for s in states]  # relu of each state, shared by every edge leaving it
        row = 0
        for j in range(2, 2 + self.steps):
            s = self.mixed[row](states[0], weights[row], activated[0])
            for i in range(1, j):
                s = s + self.mixed[row + i](states[i], weights[row + i], activated[i])
            row += j
            states.append(s)
            if j < 1 + self.steps:
                activated.append(F.relu(s))
        return torch.cat(states[-self.multiplier:], dim=1)


class DartsSupernet(_Supernet):
    """The DARTS search network: stem, ``layers`` cells (reductions at 1/3 and 2/3 depth), pool, linear."""

    def __init__(self, C: int = 16, num_classes: int = 10, layers: int = 8, in_channels: int = 3, steps: int = 4,
                 multiplier: int = 4, stem_multiplier: int = 3, channels_last: bool = False) -> None:
        super().__init__()
        if not 1 <= multiplier <= steps:
            raise ValueError(f"DartsSupernet.multiplier={multiplier}; use 1..steps ({steps})")
        self.space = create_space("darts")
        self.n_edges = sum(range(2, 2 + steps))
        C_curr = stem_multiplier * C
        self.stem = conv_bn_stem(in_channels, C_curr)
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for layer in range(layers):
            reduction = layer in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(DartsSearchCell(self.space, steps, multiplier, C_prev_prev, C_prev, C_curr,
                                              reduction, reduction_prev))
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, multiplier * C_curr
        self.classifier = nn.Linear(C_prev, num_classes)
        self._set_memory_format(channels_last)

    def forward(self, x: torch.Tensor, probs: dict[str, torch.Tensor]) -> torch.Tensor:
        _check_probs(probs, self.space, self.n_edges)
        s0 = s1 = self.stem(self._prepare(x))
        for cell in self.cells:
            weights = probs["reduce"] if cell.reduction else probs["normal"]
            s0, s1 = s1, cell(s0, s1, weights)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1))


class NB201SearchCell(nn.Module):
    """Node j = sum over i < j of MixedOp_ij(node_i); the last node is the output."""

    def __init__(self, space: SearchSpace, C: int) -> None:
        super().__init__()
        self.space = space
        self.mixed = nn.ModuleList(MixedOp(space, C, 1) for _ in space.edges)
        self.rows = {edge: row for row, edge in enumerate(space.edges)}

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        activated = [F.relu(x)]  # relu of each node, shared by every edge leaving it
        last = self.space.nodes[-1]
        for j in self.space.nodes:
            s = None
            for i in range(j):
                row = self.rows[(i, j)]
                y = self.mixed[row](nodes[i], weights[row], activated[i])
                s = y if s is None else s + y
            nodes.append(s)
            if j != last:
                activated.append(F.relu(s))
        return nodes[-1]


class NB201Supernet(_Supernet):
    """NAS-Bench-201 skeleton: stem, 3 stages of N cells joined by residual reduction blocks, BN-ReLU, pool, linear."""

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 channels_last: bool = False) -> None:
        super().__init__()
        self.space = create_space("nb201")
        self.stem = nb201_stem(in_channels, C)
        self.layers = nn.ModuleList()
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                self.layers.append(ResNetBasicblock(width // 2, width, 2, affine=True))
            self.layers.extend(NB201SearchCell(self.space, width) for _ in range(N))
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, num_classes)
        self._set_memory_format(channels_last)

    def forward(self, x: torch.Tensor, probs: dict[str, torch.Tensor]) -> torch.Tensor:
        _check_probs(probs, self.space, len(self.space.edges))
        weights = probs["cell"]
        h = self.stem(self._prepare(x))
        for layer in self.layers:
            h = layer(h, weights) if isinstance(layer, NB201SearchCell) else layer(h)
        h = self.lastact(h)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def create_supernet(space: SearchSpace | str, *, in_channels: int = 3, num_classes: int = 10, C: int = 16,
                    layers: int = 8, channels_last: bool = False) -> nn.Module:
    """The supernet of ``space``.

    ``layers`` counts cells: DARTS builds ``layers`` cells; NAS-Bench-201 has 3 stages of N cells, so ``layers``
    must be a multiple of 3 and N = layers // 3 (the benchmark's N=5 is ``layers=15``).
    """
    name = space if isinstance(space, str) else space.name
    if name == "darts":
        return DartsSupernet(C=C, num_classes=num_classes, layers=layers, in_channels=in_channels,
                             channels_last=channels_last)
    if name == "nb201":
        if layers < 3 or layers % 3:
            raise ValueError(f"layers={layers} for the nb201 supernet; use a multiple of 3 (3 stages of N cells)")
        return NB201Supernet(C=C, N=layers // 3, num_classes=num_classes, in_channels=in_channels,
                             channels_last=channels_last)
    raise KeyError(f"space={name!r} has no supernet; use 'darts' or 'nb201'")
