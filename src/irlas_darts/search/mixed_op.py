"""One supernet edge: the softmax-weighted sum of every candidate op (DARTS eq. 2).

``none`` is never built or run: its term is zero, and the other ops already give the output its shape. The conv ops
all begin with a ReLU of the same input, so the edge computes ``relu(x)`` once (or takes it from the cell, which
shares it across all edges leaving a node) and feeds it to them; the result is the same as running each op alone.
An op's final affine-free BatchNorm and its edge weight run as one node (``ops.lean.weighted_batch_norm``) that keeps
one activation instead of two; inside ``ops.lean.twice_differentiable()`` the plain modules run instead, but for the
exact product's dual pass (``ops.forward_mode.forward_differentiable()``), where the node with its tangent
(``weighted_batch_norm_dual``) keeps two activations instead of four.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import create_op, starts_with_relu
from ..ops.forward_mode import dual_batch_norm, weighted_batch_norm_dual
from ..ops.lean import lean_batch_norm, weighted_batch_norm
from ..spaces import SearchSpace, create_space


def _space(space: SearchSpace | str) -> SearchSpace:
    return create_space(space) if isinstance(space, str) else space


class MixedOp(nn.Module):
    def __init__(self, space: SearchSpace | str, C: int, stride: int, affine: bool = False) -> None:
        super().__init__()
        space = _space(space)
        self.n_ops = len(space.ops)
        self.C, self.stride = C, stride  # read by the algorithms' edge wrappers (search/algorithms)
        self.ops = nn.ModuleList()
        self.columns: list[int] = []  # weight column of each built op
        for col, name in enumerate(space.ops):
            if name == "none":
                continue
            op = create_op(space.name, name, C, stride, affine)
            if space.name == "darts" and name in space.pool_ops:
                # DARTS' search model normalises pool outputs so their scale matches the BN-ended conv ops.
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self.ops.append(op)
            self.columns.append(col)
        if not self.ops:
            raise ValueError(f"space {space.name!r} has no op besides none; a MixedOp needs at least one")
        self.relu_first = [starts_with_relu(op) for op in self.ops]
        self.needs_relu = any(self.relu_first)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, activated: torch.Tensor | None = None) -> torch.Tensor:
        """``sum_o weights[o] * op_o(x)`` over the non-``none`` ops; ``activated``: ``relu(x)`` if the caller has it."""
        if weights.shape != (self.n_ops,):
            raise ValueError(f"MixedOp weights have shape {tuple(weights.shape)}; expected ({self.n_ops},)")
        if activated is None and self.needs_relu:
            activated = F.relu(x)
        out = None
        w = weights.unbind(0)  # one view node for the edge, not a select (and a full-size zero gradient) per op
        for op, col, relu_first in zip(self.ops, self.columns, self.relu_first):
            inp = activated if relu_first else x
            # Looked up per call: a module swap after construction (GlobalBatchNorm2d under torchrun) must count,
            # and so must twice_differentiable(), under which lean_batch_norm says no.
            split = _split_final_bn(op)
            if split is not None:
                body, bn, weighted_bn = split
                term = weighted_bn(body(inp), w[col], bn)
            else:
                term = w[col] * (op.forward_activated(inp) if relu_first else op(inp))
            out = term if out is None else out + term
        return out


def _split_final_bn(op: nn.Module) -> tuple[Callable, nn.BatchNorm2d, Callable] | None:
    """``(body, bn, weighted_bn)`` with ``op(x) == bn(body(x))`` (``body`` taking ``relu(x)`` for a ReLU-first op) and
    ``weighted_bn(z, w, bn) == w * bn(z)`` the node for this pass, or None."""
    if starts_with_relu(op):
        body, bn = op.body, op.final_bn
    elif isinstance(op, nn.Sequential) and len(op) == 2 and isinstance(op[1], nn.BatchNorm2d):
        body, bn = op[0], op[1]
    else:
        return None
    if lean_batch_norm(bn):
        return body, bn, weighted_batch_norm
    if dual_batch_norm(bn):
        return body, bn, weighted_batch_norm_dual
    return None
