"""Running a network with forward-mode AD so that reverse mode can differentiate the tangents afterwards.

The exact Hessian-vector product of the second-order search is taken reverse over forward (``search.hvp=exact``):
one forward pass with dual weights ``(w, v)`` gives the loss and its derivative along ``v``, ``grad_w L . v``, as a
tangent; one backward pass of that tangent to the alphas gives ``grad_alpha (grad_w L . v)``. For that, every op of
the pass must have a forward-mode rule whose tangent computation autograd can record and differentiate again:

- our lean autograd Functions have no forward-mode rule: the plain modules and ops run instead (``lean.py`` reads
  ``plain_ops()``);
- ATen's fused forward-mode rules of batch norm and of cross entropy are not differentiable again (reverse mode
  through their tangents returns wrong values, or fails on an in-place update), so inside ``forward_differentiable``
  both are computed from elementary ops: the same mathematics, each step with a reverse-differentiable rule.

``tests/search/test_architect.py`` checks the product against autograd through an explicitly unrolled step,
``tests/ops/test_forward_mode.py`` the two elementary forms against ATen and against double backward.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

_PLAIN = [False]


def plain_ops() -> bool:
    """True inside ``forward_differentiable()``: run plain ops, not custom autograd Functions."""
    return _PLAIN[0]


def _batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
                bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5
                ) -> Tensor:
    """``F.batch_norm`` from elementary ops: batch statistics when training, else the running ones."""
    shape = [1, -1] + [1] * (input.dim() - 2)
    if training or running_mean is None or running_var is None:
        if running_mean is not None or running_var is not None:
            raise ValueError("forward_differentiable: a training-mode BatchNorm would update its running statistics "
                             "with dual values; run the module without buffers (functional_call with None)")
        dims = [0, *range(2, input.dim())]
        centred = input - input.mean(dims, keepdim=True)
        var = (centred * centred).mean(dims, keepdim=True)
    else:
        centred = input - running_mean.view(shape)
        var = running_var.view(shape)
    out = centred * torch.rsqrt(var + eps)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return out


def _cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                   ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                   label_smoothing: float = 0.0) -> Tensor:
    """Mean cross entropy of class-index targets from elementary ops."""
    if not (weight is None and size_average is None and reduce is None and reduction == "mean"
            and label_smoothing == 0.0 and not target.is_floating_point() and input.dim() == 2):
        raise ValueError("forward_differentiable: only the mean cross entropy of class indices has an elementary "
                         "form here; use search.hvp=double_backward for another loss")
    top = torch.autograd.forward_ad.unpack_dual(input).primal.detach().amax(dim=1, keepdim=True)
    log_z = top.squeeze(1) + (input - top).exp().sum(dim=1).log()  # any constant shift gives the same value
    return (log_z - input.gather(1, target[:, None]).squeeze(1)).mean()


class _Elementary(TorchFunctionMode):
    """Routes ``F.batch_norm`` and ``F.cross_entropy`` to their elementary forms; every other call unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if func is F.batch_norm:
            return _batch_norm(*args, **kwargs)
        if func is F.cross_entropy:
            return _cross_entropy(*args, **kwargs)
        return func(*args, **kwargs)


@contextmanager
def forward_differentiable() -> Iterator[None]:
    """Plain ops, elementary batch norm and cross entropy: a pass whose forward-mode tangents reverse mode can
    differentiate. Use it with ``lean.twice_differentiable()`` (the plain modules instead of the lean BatchNorm
    nodes) around the dual forward pass (``torch.autograd.forward_ad.dual_level``)."""
    previous = _PLAIN[0]
    _PLAIN[0] = True
    try:
        with _Elementary():
            yield
    finally:
        _PLAIN[0] = previous
