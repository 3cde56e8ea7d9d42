"""Running a network with forward-mode AD so that reverse mode can differentiate the tangents afterwards.

The exact Hessian-vector product of the second-order search is taken reverse over forward (``search.hvp=exact``):
one forward pass with dual weights ``(w, v)`` gives the loss and its derivative along ``v``, ``grad_w L . v``, as a
tangent; one backward pass of that tangent to the alphas gives ``grad_alpha (grad_w L . v)``. For that, every op of
the pass must have a forward-mode rule whose tangent computation autograd can record and differentiate again:

- our lean autograd Functions have no forward-mode rule: the plain modules and ops run instead (``lean.py`` reads
  ``plain_ops()``);
- ATen's fused forward-mode rules of batch norm and of cross entropy are not differentiable again (reverse mode
  through their tangents returns wrong values, or fails on an in-place update), so inside ``forward_differentiable``
  both are computed from elementary ops: the same mathematics, each step with a reverse-differentiable rule;
- a convolution whose weight is a constant of the pass (the network's weights are: only the op weights, hence the
  activations, need gradients) keeps its weight for backward and not its input, which only a weight gradient reads.
  ATen's rule keeps both, and the inputs it keeps for nothing were 29 % of the dual pass's saved tensors (734 of
  2559 MB, DARTS' CIFAR search network at batch 16). The dual convolution is split into its primal and its tangent,
  ``conv(x, w)`` and ``conv(x', w) + conv(x, w')`` (ATen's order of terms), each such a convolution;
- the supernet's affine-free batch norms, weighted by their edge weight at an op's end (``weighted_batch_norm_dual``)
  or followed by a ReLU in a separable conv (``batch_norm_relu_dual``), run as one node with its tangent that keeps
  the normalised output and its tangent, where the elementary form keeps ``z - mean``, its tangent, and the output
  and its tangent: saved tensors 1828 -> 1151 MB for the same pass and network (the dual pass holds them all until
  its backward; the callers ask ``dual_batch_norm(bn)`` first);
- DARTS' max pooling (``max_pool_dual``) keeps its input, which the edge's average pooling keeps anyway, and
  recomputes the argmax in backward, where ATen's rule keeps int64 indices: 1151 -> 1056 MB.

``tests/search/test_architect.py`` checks the product against autograd through an explicitly unrolled step,
``tests/ops/test_forward_mode.py`` the elementary forms against ATen and against double backward, the convolution,
batch-norm and max-pooling nodes against the forms they replace.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

_PLAIN = [False]
_LAYOUTS: list[dict | None] = [None]  # inside forward_differentiable: the pass's tensors of the convolutions' layouts


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


class _ConstantWeightConv(torch.autograd.Function):
    """``F.conv2d(x, weight)`` for a weight that needs no gradient: backward reads the weight, never ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
        ctx.save_for_backward(weight)
        ctx.conf = (x.shape, x.stride(), stride, padding, dilation, groups)
        ctx.layouts = _LAYOUTS[0] if _LAYOUTS[0] is not None else {}
        return F.conv2d(x, weight, None, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        shape, strides, stride, padding, dilation, groups = ctx.conf
        # The kernel reads the input's sizes and layout (which picks its algorithm), never its values: an uninitialised
        # tensor of the same strides, one per shape for the whole pass and freed with its graph (one per call cost 3 s
        # of a 16 s batch-64 step).
        key = (tuple(shape), strides, grad.dtype, grad.device)
        layout_only = ctx.layouts.get(key)
        if layout_only is None:
            layout_only = ctx.layouts[key] = torch.empty_strided(shape, strides, dtype=grad.dtype, device=grad.device)
        pair = torch.nn.modules.utils._pair
        gx = torch.ops.aten.convolution_backward(grad, layout_only, weight, None, pair(stride), pair(padding),
                                                 pair(dilation), False, [0, 0], groups, (True, False, False))[0]
        return gx, None, None, None, None, None


def _conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
            dilation: Any = 1, groups: int = 1) -> Tensor | None:
    """The dual convolution from ``_ConstantWeightConv``; None where the weight or a bias needs a gradient (or
    ``padding`` is a string), for ATen's own rule."""
    unpack = torch.autograd.forward_ad.unpack_dual
    (x, dx), (w, dw) = unpack(input), unpack(weight)
    if w.requires_grad or bias is not None or isinstance(padding, str) or not x.requires_grad:
        return None
    conv = functools.partial(_ConstantWeightConv.apply, stride=stride, padding=padding, dilation=dilation,
                             groups=groups)
    out = conv(x, w)
    tangent = None
    if dx is not None:
        tangent = conv(dx, w)
    if dw is not None:
        tangent = conv(x, dw) if tangent is None else tangent + conv(x, dw)
    return out if tangent is None else torch.autograd.forward_ad.make_dual(out, tangent)


@functools.lru_cache(maxsize=64)
def _zeros_and_ones(n: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """Constant inputs of every ``centre_and_scale``: made once per channel count, not twice a call (on a GPU, two
    kernel launches for each BatchNorm of the supernet)."""
    return torch.zeros(n, dtype=dtype, device=device), torch.ones(n, dtype=dtype, device=device)


def centre_and_scale(g: Tensor, x_hat: Tensor, invstd: Tensor) -> Tensor:
    """``invstd * (g - mean(g) - x_hat * mean(g * x_hat))`` per channel: a batch-statistics batch norm's input
    gradient, and the tangent of its output too (the same self-adjoint map). ATen's backward kernel fed ``x_hat`` as
    its input, with mean 0, 1/std 1 and the true ``invstd`` as its per-channel scale, computes it in one pass."""
    zeros, ones = _zeros_and_ones(invstd.numel(), invstd.dtype, invstd.device)
    return torch.ops.aten.native_batch_norm_backward(g, x_hat, invstd, None, None, zeros, ones, True, 0.0,
                                                     [True, False, False])[0]


def relu_mask(t: Tensor, x: Tensor) -> Tensor:
    """``t`` where ``x > 0``, else 0: ReLU's own backward kernel (``masked_fill``, the same zeros, is 12-30x slower
    on the CPU)."""
    return torch.ops.aten.threshold_backward(t, x, 0)


def _channel_mean(t: Tensor) -> Tensor:
    return t.mean(dim=(0, 2, 3), keepdim=True)


class _DualBatchNorm(torch.autograd.Function):
    """``(w * f(x_hat), w * f'(x_hat) x_hat')`` from ``(z, z')``, ``f`` the identity or a ReLU: a train-mode
    affine-free batch norm with its tangent, keeping ``x_hat`` and ``x_hat'`` for backward instead of the elementary
    form's ``z - mean``, its tangent, and the output and its tangent (or the ReLU's output). With ``r = 1/std``,
    ``a = mean(x_hat z')``, the cotangents ``G, G'`` masked by ``f'(x_hat)``, ``g = w G``, ``g' = w G'``:

        x_hat' = r (z' - mean z' - a x_hat) = B(z')       B(g) = r (g - mean g - x_hat mean(g x_hat))
        d z'   = B(g')
        d z    = B(g) - r (x_hat mean(g' x_hat') + x_hat' mean(g' x_hat) + a B(g'))
        d w    = sum(G x_hat) + sum(G' x_hat')
    """

    @staticmethod
    def forward(ctx, z: Tensor, z_t: Tensor, w: Tensor | None, eps: float, relu: bool) -> tuple[Tensor, Tensor]:
        x_hat, _, invstd = torch.native_batch_norm(z, None, None, None, None, True, 0.0, eps)
        x_hat_t = centre_and_scale(z_t, x_hat, invstd)
        a = _channel_mean(x_hat * z_t)
        ctx.relu = relu
        ctx.save_for_backward(x_hat, x_hat_t, invstd, a, w)
        out, out_t = (F.relu(x_hat), relu_mask(x_hat_t, x_hat)) if relu else (x_hat, x_hat_t)
        return (out, out_t) if w is None else (out * w, out_t * w)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor, grad_t: Tensor) -> tuple[Tensor | None, ...]:
        x_hat, x_hat_t, invstd, a, w = ctx.saved_tensors
        if ctx.relu:
            grad, grad_t = relu_mask(grad, x_hat), relu_mask(grad_t, x_hat)
        grad_w = None
        if w is not None and ctx.needs_input_grad[2]:
            grad_w = ((grad * x_hat).sum() + (grad_t * x_hat_t).sum()).reshape(w.shape)
        g, g_t = (grad, grad_t) if w is None else (grad * w, grad_t * w)
        grad_z_t = centre_and_scale(g_t, x_hat, invstd)
        grad_z = None
        if ctx.needs_input_grad[0]:
            r = invstd.reshape(1, -1, 1, 1)
            cross = x_hat * _channel_mean(g_t * x_hat_t) + x_hat_t * _channel_mean(g_t * x_hat) + a * grad_z_t
            grad_z = centre_and_scale(g, x_hat, invstd) - r * cross
        return grad_z, (grad_z_t if ctx.needs_input_grad[1] else None), grad_w, None, None


def dual_batch_norm(bn: torch.nn.Module) -> bool:
    """Whether ``bn`` may run as ``weighted_batch_norm_dual`` / ``batch_norm_relu_dual`` in this pass: inside
    ``forward_differentiable()``, a plain affine-free ``BatchNorm2d`` (not a subclass such as the distributed
    search's global one) normalising with the batch's statistics and given no running ones (the dual pass runs
    without buffers)."""
    return (_PLAIN[0] and type(bn) is torch.nn.BatchNorm2d and not bn.affine and bn.training
            and bn.running_mean is None and bn.running_var is None)


def _dual(z: Tensor, w: Tensor | None, bn: torch.nn.Module, relu: bool) -> Tensor | None:
    unpack = torch.autograd.forward_ad.unpack_dual
    primal, tangent = unpack(z)
    if tangent is None or z.dim() != 4 or (w is not None and unpack(w).tangent is not None):
        return None
    out, out_t = _DualBatchNorm.apply(primal, tangent, w, bn.eps, relu)
    return torch.autograd.forward_ad.make_dual(out, out_t)


def weighted_batch_norm_dual(z: Tensor, w: Tensor, bn: torch.nn.Module) -> Tensor:
    """``w * bn(z)`` for a dual ``z`` (see ``dual_batch_norm``), through ``_DualBatchNorm``; the elementary form where
    ``z`` has no tangent or ``w`` one."""
    out = _dual(z, w, bn, relu=False)
    return w * bn(z) if out is None else out


def batch_norm_relu_dual(z: Tensor, bn: torch.nn.Module) -> Tensor:
    """``relu(bn(z))`` for a dual ``z`` (see ``dual_batch_norm``): the middle of a separable conv."""
    out = _dual(z, None, bn, relu=True)
    return F.relu(bn(z)) if out is None else out


class _DualMaxPool(torch.autograd.Function):
    """3x3 max pooling (padding 1) of ``(x, x')``: ``(pool(x), x'`` at the argmax) as ATen's forward-mode rule has it,
    keeping ``x`` for backward and recomputing the argmax there, where ATen's two nodes keep the int64 indices. ``x``
    is kept anyway in the dual pass (the average pooling of the same edge keeps it)."""

    @staticmethod
    def forward(ctx, x: Tensor, x_t: Tensor, stride: int) -> tuple[Tensor, Tensor]:
        out, indices = F.max_pool2d(x, 3, stride, 1, return_indices=True)
        ctx.stride = stride
        ctx.save_for_backward(x)
        out_t = torch.gather(x_t.flatten(-2), -1, indices.flatten(-2)).view_as(out)
        return out, out_t

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor, grad_t: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        s = ctx.stride
        _, indices = F.max_pool2d(x, 3, s, 1, return_indices=True)
        back = functools.partial(torch.ops.aten.max_pool2d_with_indices_backward, self=x, kernel_size=[3, 3],
                                 stride=[s, s], padding=[1, 1], dilation=[1, 1], ceil_mode=False, indices=indices)
        need_x, need_t = ctx.needs_input_grad[:2]
        return (back(grad) if need_x else None), (back(grad_t) if need_t else None), None


def max_pool_dual(x: Tensor, stride: int) -> Tensor:
    """DARTS' 3x3 max pooling (padding 1) in the dual pass (``plain_ops()``), through ``_DualMaxPool`` where ``x`` has a
    tangent."""
    primal, tangent = torch.autograd.forward_ad.unpack_dual(x)
    if tangent is None or x.dim() != 4:
        return F.max_pool2d(x, 3, stride, 1)
    out, out_t = _DualMaxPool.apply(primal, tangent, stride)
    return torch.autograd.forward_ad.make_dual(out, out_t)


class _Elementary(TorchFunctionMode):
    """Routes ``F.batch_norm`` and ``F.cross_entropy`` to their elementary forms and ``F.conv2d`` with a constant
    weight to ``_conv2d``; every other call unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if func is F.batch_norm:
            return _batch_norm(*args, **kwargs)
        if func is F.cross_entropy:
            return _cross_entropy(*args, **kwargs)
        if func is F.conv2d:
            out = _conv2d(*args, **kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)


@contextmanager
def forward_differentiable() -> Iterator[None]:
    """Plain ops, elementary batch norm and cross entropy, convolutions that keep no input: a pass whose
    forward-mode tangents reverse mode can differentiate. Use it with ``lean.twice_differentiable()`` (the plain
    modules instead of the lean BatchNorm nodes) around the dual forward pass
    (``torch.autograd.forward_ad.dual_level``)."""
    previous, layouts = _PLAIN[0], _LAYOUTS[0]
    _PLAIN[0], _LAYOUTS[0] = True, {}
    try:
        with _Elementary():
            yield
    finally:
        _PLAIN[0], _LAYOUTS[0] = previous, layouts
