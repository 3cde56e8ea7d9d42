"""Supernet edges the algorithms swap in for ``MixedOp``: PC-DARTS' partial channels, GDAS' one-op forward.

Both wrap a ``MixedOp`` rather than rewrite it, so whatever makes ``MixedOp`` faster makes them faster too, and both
take the same ``forward(x, weights, activated)`` call the supernet cells make. ``replace_mixed_ops`` swaps them in
after the supernet is built (NASLib's "edge modifier" of its configurable optimizer).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...spaces import SearchSpace
from ..mixed_op import MixedOp


def replace_mixed_ops(net: nn.Module, make: Callable[[MixedOp], nn.Module]) -> int:
    """Replace every ``MixedOp`` of ``net`` by ``make(op)``, in place; returns how many were replaced."""
    count = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, MixedOp):
                setattr(parent, name, make(child))
                count += 1
    if count == 0:
        raise ValueError(f"{type(net).__name__} has no MixedOp edge to replace; build it with create_supernet")
    return count


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: channel ``g * (C/groups) + i`` moves to ``i * groups + g``; a permutation."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class PartialChannelMixedOp(nn.Module):
    """PC-DARTS' edge (Xu et al., ICLR 2020): only the first ``C/k`` channels pass through the candidate ops.

    The other channels bypass them (max-pooled on stride-2 edges), the two parts are concatenated and shuffled with
    ``k`` groups, so that a different 1/k reaches the ops at the next edge. The bypass is scaled by the edge's total
    weight ``sum(weights)`` (1 for a softmax; PC-DARTS' edge weight when the weights carry it), as in the paper, where
    the edge weight multiplies the whole edge output.
    """

    def __init__(self, space: SearchSpace, C: int, stride: int, k: int) -> None:
        super().__init__()
        if k < 1 or C % k:
            raise ValueError(f"algorithm.k={k} does not divide an edge's {C} channels; choose a k that divides "
                             "space.channels")
        self.C, self.stride, self.k = C, stride, k
        self.inner = MixedOp(space, C // k, stride)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, activated: torch.Tensor | None = None) -> torch.Tensor:
        dim = x.shape[1] // self.k
        y = self.inner(x[:, :dim], weights, None if activated is None else activated[:, :dim])
        if self.k == 1:
            return y
        rest = x[:, dim:]
        if self.stride == 2:  # ceil_mode matches the ops' output size on odd inputs too; the paper's pool otherwise
            rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
        return channel_shuffle(torch.cat([y, weights.sum() * rest], dim=1), self.k)


class SingleOpMixedOp(nn.Module):
    """GDAS' edge (Dong & Yang, CVPR 2019): with one-hot weights only the selected op runs.

    Output ``h_s * op_s(x) + sum_{o != s} h_o``: the other (zero-valued) weights are added as scalars so that their
    straight-through gradients still flow, as in GDAS' code. Weights that are not one-hot run the full ``MixedOp``.
    """

    def __init__(self, inner: MixedOp) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, weights: torch.Tensor, activated: torch.Tensor | None = None) -> torch.Tensor:
        inner = self.inner
        w = weights.detach()
        top, index, zeros = torch.stack([w.max(), w.argmax().to(w.dtype), (w == 0).sum().to(w.dtype)]).tolist()
        if top != 1.0 or int(zeros) != w.numel() - 1:
            return inner(x, weights, activated)
        col = int(index)
        if col in inner.columns:
            j = inner.columns.index(col)
            op = inner.ops[j]
            if inner.relu_first[j]:
                out = op.forward_activated(activated if activated is not None else F.relu(x))
            else:
                out = op(x)
        else:  # `none` selected: the zero op's output
            out = x.new_zeros(x[:, :, :: inner.stride, :: inner.stride].shape)
        return weights[col] * out + (weights.sum() - weights[col])
