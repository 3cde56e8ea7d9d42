"""The two supernets (DARTS and NAS-Bench-201): the shared network skeletons with mixed-op cells; ``create_supernet``.

A supernet holds network weights only; the architecture arrives at every call as
``probs = {cell_type: (n_edges, n_ops) softmax weights}`` (``Architecture.probs()``), rows in ``SearchSpace.edges``
order. Keeping alphas out lets them have their own optimizer, checkpoint entry and all-reduce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..networks import N_INPUTS, CellSlot, DartsCellBase, DartsSkeleton, NB201Skeleton
from ..spaces import SearchSpace, create_space
from .mixed_op import MixedOp


def _check_probs(probs: dict[str, torch.Tensor], space: SearchSpace, n_edges: int) -> None:
    for cell in space.cell_types:
        if cell not in probs:
            raise KeyError(f"probs has no entry {cell!r}; pass Architecture.probs() of the {space.name} space")
        if probs[cell].shape != (n_edges, len(space.ops)):
            raise ValueError(f"probs[{cell!r}] has shape {tuple(probs[cell].shape)}; "
                             f"expected ({n_edges}, {len(space.ops)})")


States = tuple[torch.Tensor, ...]


class Stages(NamedTuple):
    """A supernet's forward pass as a chain: ``head(stages[-1](...stages[0](stem(x))))`` is ``forward(x, probs)``.

    Each stage maps the tuple of states the next cells read to the next such tuple. The unit that the memory-lean
    exact product (``search.hvp=exact_recompute``) keeps the boundaries of and recomputes in backward.
    """

    stem: Callable[[torch.Tensor], States]
    stages: list[Callable[[States], States]]
    head: Callable[[States], torch.Tensor]


class _Supernet(nn.Module):
    """Shared plumbing: the optional channels-last memory format (faster convolutions on CUDA tensor cores)."""

    channels_last: bool = False

    def _set_memory_format(self, channels_last: bool) -> None:
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class DartsSearchCell(DartsCellBase):
    """``steps`` nodes, each summing a MixedOp of every earlier state; output = concat of the last ``multiplier``."""

    def __init__(self, space: SearchSpace, steps: int, multiplier: int, slot: CellSlot) -> None:
        super().__init__(slot, affine=False)
        self.steps = steps
        self.multiplier = multiplier
        self.edges = [(i, j) for j in range(N_INPUTS, N_INPUTS + steps) for i in range(j)]
        self.mixed = nn.ModuleList(
            MixedOp(space, slot.C, 2 if slot.reduction and i < N_INPUTS else 1) for i, _ in self.edges
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        activated = [F.relu(s) for s in states]  # relu of each state, shared by every edge leaving it
        rows = weights.unbind(0)
        row = 0
        for j in range(2, 2 + self.steps):
            s = self.mixed[row](states[0], rows[row], activated[0])
            for i in range(1, j):
                s = s + self.mixed[row + i](states[i], rows[row + i], activated[i])
            row += j
            states.append(s)
            if j < 1 + self.steps:
                activated.append(F.relu(s))
        return torch.cat(states[-self.multiplier:], dim=1)


class DartsSupernet(_Supernet, DartsSkeleton):
    """The DARTS search network: the DARTS skeleton (stem, ``layers`` cells, pool, linear) of mixed-op cells."""

    def __init__(self, C: int = 16, num_classes: int = 10, layers: int = 8, in_channels: int = 3, steps: int = 4,
                 multiplier: int = 4, stem_multiplier: int = 3, channels_last: bool = False) -> None:
        if not 1 <= multiplier <= steps:
            raise ValueError(f"DartsSupernet.multiplier={multiplier}; use 1..steps ({steps})")
        space = create_space("darts")
        super().__init__(lambda slot: DartsSearchCell(space, steps, multiplier, slot), C=C, layers=layers,
                         num_classes=num_classes, in_channels=in_channels, stem="cifar",
                         stem_multiplier=stem_multiplier)
        self.space = space
        self.n_edges = sum(range(N_INPUTS, N_INPUTS + steps))
        self._set_memory_format(channels_last)

    def forward(self, x: torch.Tensor, probs: dict[str, torch.Tensor]) -> torch.Tensor:
        _check_probs(probs, self.space, self.n_edges)
        logits, _ = self.run(self._prepare(x), lambda i, cell: (probs["reduce" if cell.reduction else "normal"],))
        return logits

    def stages(self, probs: dict[str, torch.Tensor]) -> Stages:
        """``forward`` cell by cell: a stage maps ``(s0, s1)`` to ``(s1, cell(s0, s1))``."""
        _check_probs(probs, self.space, self.n_edges)

        def stage(cell: nn.Module) -> Callable[[States], States]:
            w = probs["reduce" if cell.reduction else "normal"]
            return lambda s: (s[1], cell(s[0], s[1], w))

        return Stages(lambda x: self.stems(self._prepare(x)), [stage(c) for c in self.cells],
                      lambda s: self.logits(s[1]))


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
        weight_rows = weights.unbind(0)
        for j in self.space.nodes:
            s = None
            for i in range(j):
                row = self.rows[(i, j)]
                y = self.mixed[row](nodes[i], weight_rows[row], activated[i])
                s = y if s is None else s + y
            nodes.append(s)
            if j != last:
                activated.append(F.relu(s))
        return nodes[-1]


class NB201Supernet(_Supernet, NB201Skeleton):
    """The NAS-Bench-201 skeleton (stem, 3 stages of N cells joined by residual blocks, BN-ReLU, pool, linear) of
    mixed-op cells."""

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 channels_last: bool = False) -> None:
        space = create_space("nb201")
        super().__init__(lambda width: NB201SearchCell(space, width), C=C, N=N, num_classes=num_classes,
                         in_channels=in_channels)
        self.space = space
        self._set_memory_format(channels_last)

    @property
    def layers(self) -> nn.ModuleList:
        """The cells and residual blocks in order (``cells``; the name the supernet had before the shared skeleton)."""
        return self.cells

    def forward(self, x: torch.Tensor, probs: dict[str, torch.Tensor]) -> torch.Tensor:
        _check_probs(probs, self.space, len(self.space.edges))
        return self.run(self._prepare(x), probs["cell"])

    def stages(self, probs: dict[str, torch.Tensor]) -> Stages:
        """``forward`` layer by layer (cells and residual blocks), one state each."""
        _check_probs(probs, self.space, len(self.space.edges))
        w = probs["cell"]

        def stage(layer: nn.Module, is_cell: bool) -> Callable[[States], States]:
            return (lambda s: (layer(s[0], w),)) if is_cell else (lambda s: (layer(s[0]),))

        return Stages(lambda x: (self.stem(self._prepare(x)),),
                      [stage(layer, c) for layer, c in zip(self.cells, self.is_cell)], lambda s: self.logits(s[0]))


SUPERNETS: dict[str, Callable[..., nn.Module]] = {}


def register_supernet(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register the builder of a space's supernet: ``build(in_channels=, num_classes=, C=, layers=, channels_last=)``."""
    def deco(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        SUPERNETS[name] = build
        return build

    return deco


@register_supernet("darts")
def _darts_supernet(*, in_channels: int, num_classes: int, C: int, layers: int, channels_last: bool) -> nn.Module:
    return DartsSupernet(C=C, num_classes=num_classes, layers=layers, in_channels=in_channels,
                         channels_last=channels_last)


@register_supernet("nb201")
def _nb201_supernet(*, in_channels: int, num_classes: int, C: int, layers: int, channels_last: bool) -> nn.Module:
    if layers < 3 or layers % 3:
        raise ValueError(f"layers={layers} for the nb201 supernet; use a multiple of 3 (3 stages of N cells)")
    return NB201Supernet(C=C, N=layers // 3, num_classes=num_classes, in_channels=in_channels,
                         channels_last=channels_last)


def create_supernet(space: SearchSpace | str, *, in_channels: int = 3, num_classes: int = 10, C: int = 16,
                    layers: int = 8, channels_last: bool = False) -> nn.Module:
    """The supernet of ``space``.

    ``layers`` counts cells: DARTS builds ``layers`` cells; NAS-Bench-201 has 3 stages of N cells, so ``layers``
    must be a multiple of 3 and N = layers // 3 (the benchmark's N=5 is ``layers=15``).
    """
    name = space if isinstance(space, str) else space.name
    if name not in SUPERNETS:
        raise KeyError(f"space={name!r} has no supernet; use {' or '.join(repr(n) for n in sorted(SUPERNETS))}")
    return SUPERNETS[name](in_channels=in_channels, num_classes=num_classes, C=C, layers=layers,
                           channels_last=channels_last)
