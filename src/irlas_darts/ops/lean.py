"""Primitives that keep less for their backward pass: a supernet edge's activation memory is its search's limit.

- ``phase_depthwise_conv``: on the CPU, a depthwise conv with dilation 2 and "same" padding, run as the undilated
  conv of the 2x2 pixel phases (CPU kernels are several times slower, backward above all, for dilated than for plain
  depthwise convolutions; on CUDA the dilated conv runs as it is). Output pixel ``(2i+p, 2j+q)`` only reads input
  pixels of phase ``(p, q)``, so the op is the plain conv of each phase (``pixel_unshuffle`` puts the phases in
  channels); with stride 2 only phase (0, 0) is read. Same products and sums, in another memory order. The phases
  are recomputed in backward from the input, which the caller keeps anyway (it is the edge's shared ``relu(x)``),
  instead of being kept as a second copy. The exact product's forward-mode pass runs the phase form as plain ops,
  for the 5x5 kernel only.
- ``MaxPool3x3``: max pooling that recomputes its argmax indices in backward instead of keeping them (they
  are int64: twice the size of the pooled output).
- ``weighted_batch_norm``: ``w * bn(z)`` for an affine-free ``bn`` (how every supernet op ends and is weighted),
  keeping only the normalised output ``x_hat`` and the per-channel ``1/std``, not ``z`` as well:

      d w = sum(g * x_hat)        d z = (1/std) * (g' - mean(g') - x_hat * mean(g' * x_hat)),   g' = w * g

- ``bn_relu_depthwise``: the middle of a separable conv, ``depthwise(relu(bn(z)))``, keeping only ``x_hat``
  (``relu(x_hat)``, the conv's input, is recomputed in backward), not ``z`` and ``relu(x_hat)``.

The first two have backward passes written with differentiable operations, so a graph through them can be
differentiated twice. The BatchNorm ones are differentiable once; inside ``twice_differentiable()`` (the exact
Hessian-vector product's pass) callers run the plain modules instead -- ``lean_enabled()`` says which.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .forward_mode import centre_and_scale, max_pool_dual, plain_ops, relu_mask


def _like(t: Tensor, ref: Tensor) -> Tensor:
    """``t`` in ``ref``'s memory format, so that the conv backward sees one layout for gradient and input."""
    cl = ref.dim() == 4 and ref.is_contiguous(memory_format=torch.channels_last) and not ref.is_contiguous()
    return t.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)


def _phase_conv(x: Tensor, weight: Tensor, k: int) -> Tensor:
    C = x.shape[1]
    y = F.conv2d(F.pixel_unshuffle(x, 2), weight.repeat_interleave(4, dim=0), padding=(k - 1) // 2, groups=4 * C)
    return F.pixel_shuffle(y, 2)


class _PhaseDepthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return _phase_conv(x, weight, weight.shape[-1])

    @staticmethod
    def backward(ctx, g: Tensor):
        x, weight = ctx.saved_tensors
        C, k = x.shape[1], weight.shape[-1]
        pad = (k - 1) // 2
        phases = F.pixel_unshuffle(x, 2)
        grad_x, grad_w4, _ = torch.ops.aten.convolution_backward(
            _like(F.pixel_unshuffle(g, 2), phases), phases, weight.repeat_interleave(4, dim=0), None,
            [1, 1], [pad, pad], [1, 1], False, [0, 0], 4 * C, [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False],
        )
        if grad_x is not None:
            grad_x = F.pixel_shuffle(grad_x, 2)
        if grad_w4 is not None:
            grad_w4 = grad_w4.reshape(C, 4, 1, k, k).sum(dim=1)
        return grad_x, grad_w4


def phase_depthwise_conv(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(x)`` for a depthwise ``conv``; on the CPU a square dilation-2 one with "same" padding runs on pixel
    phases. Elsewhere the dilated conv runs as it is: the phase form exists for the CPU's slow dilated kernels, and on
    a GPU, where a search step is bound by kernel launches, it would add four or five launches per call."""
    if x.device.type != "cpu":
        return conv(x)
    k, d, s, pad = conv.kernel_size[0], conv.dilation[0], conv.stride[0], conv.padding[0]
    square = (conv.kernel_size[0] == conv.kernel_size[1] and conv.dilation[0] == conv.dilation[1]
              and conv.stride[0] == conv.stride[1] and conv.padding[0] == conv.padding[1])
    if square and d == 2 and pad == k - 1 and conv.groups == x.shape[1] == conv.out_channels:
        if s == 2:
            return F.conv2d(x[:, :, ::2, ::2], conv.weight, padding=(k - 1) // 2, groups=x.shape[1])
        if s == 1 and x.shape[-2] % 2 == 0 and x.shape[-1] % 2 == 0:
            if not _under_torch_func():
                return _PhaseDepthwise.apply(x, conv.weight)
            if k >= 5:
                # A forward-mode pass runs plain ops, where the phases cost copies of the input and of its tangent:
                # they pay for the 5x5 kernel (9x9 dilated), not for the 3x3 (experiments/bench_dilated.py).
                return _phase_conv(x, conv.weight, k)
    return conv(x)


def _under_torch_func() -> bool:
    """Inside a ``torch.func`` transform (the forward-over-reverse product) or a forward-mode pass
    (``forward_mode.forward_differentiable``, the reverse-over-forward one): our autograd Functions have no
    forward-mode rule there, so the plain ops run (the same sums)."""
    return plain_ops() or torch._C._are_functorch_transforms_active()


class _LeanMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, stride: int) -> Tensor:
        ctx.stride = stride
        ctx.save_for_backward(x)
        return F.max_pool2d(x, 3, stride, 1)

    @staticmethod
    def backward(ctx, g: Tensor):
        (x,) = ctx.saved_tensors
        s = ctx.stride
        with torch.no_grad():
            _, indices = F.max_pool2d(x, 3, s, 1, return_indices=True)
        grad = torch.ops.aten.max_pool2d_with_indices_backward(g, x, [3, 3], [s, s], [1, 1], [1, 1], False, indices)
        return grad, None


class MaxPool3x3(nn.Module):
    """DARTS' ``max_pool_3x3`` (padding 1), keeping no indices for backward."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if plain_ops():  # the exact product's dual pass: its own node, which keeps no indices either
            return max_pool_dual(x, self.stride)
        if torch.is_grad_enabled() and x.requires_grad and not _under_torch_func():
            return _LeanMaxPool.apply(x, self.stride)
        return F.max_pool2d(x, 3, self.stride, 1)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


# --- once-differentiable BatchNorm nodes -----------------------------------------------------------------------------
_LEAN = [True]


def lean_enabled() -> bool:
    """False inside ``twice_differentiable()``: use the plain modules, whose graph can be differentiated again."""
    return _LEAN[0]


@contextmanager
def twice_differentiable() -> Iterator[None]:
    """Run the plain modules instead of the once-differentiable lean BatchNorm nodes (for double backward)."""
    previous = _LEAN[0]
    _LEAN[0] = False
    try:
        yield
    finally:
        _LEAN[0] = previous


def lean_batch_norm(bn: nn.Module) -> bool:
    """Whether ``bn`` may run as a lean node: a plain affine-free ``nn.BatchNorm2d`` (not a subclass such as the
    global-statistics one of a distributed search), outside ``twice_differentiable()``."""
    return _LEAN[0] and type(bn) is nn.BatchNorm2d and not bn.affine


def _bn_args(bn: nn.BatchNorm2d) -> tuple[bool, float]:
    """``(training, momentum)`` as ``bn(z)`` would use them, counting the batch as ``bn`` does."""
    if bn.affine:
        raise ValueError("the lean BatchNorm nodes need a BatchNorm2d with affine=False (the supernet's)")
    momentum = bn.momentum
    if bn.training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if momentum is None:  # cumulative moving average
            momentum = 1.0 / float(bn.num_batches_tracked)
    return bn.training or bn.running_mean is None, momentum or 0.0


def _normalise(z: Tensor, running_mean, running_var, training: bool, momentum: float, eps: float):
    x_hat, _, invstd = torch.native_batch_norm(z, None, None, running_mean, running_var, training, momentum, eps)
    if not training:
        invstd = torch.rsqrt(running_var + eps)
    return x_hat, invstd


def _normalise_backward(g: Tensor, x_hat: Tensor, invstd: Tensor, training: bool) -> Tensor:
    if not training:
        return g * invstd.reshape(1, -1, 1, 1)
    return centre_and_scale(g, x_hat, invstd)


class _WeightedBatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, w, running_mean, running_var, training, momentum, eps):
        x_hat, invstd = _normalise(z, running_mean, running_var, training, momentum, eps)
        ctx.training = training
        ctx.save_for_backward(x_hat, invstd, w)
        return x_hat * w

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x_hat, invstd, w = ctx.saved_tensors
        grad_w = (g * x_hat).sum().reshape(w.shape) if ctx.needs_input_grad[1] else None
        grad_z = _normalise_backward(g * w, x_hat, invstd, ctx.training) if ctx.needs_input_grad[0] else None
        return grad_z, grad_w, None, None, None, None, None


def weighted_batch_norm(z: Tensor, w: Tensor, bn: nn.BatchNorm2d) -> Tensor:
    """``w * bn(z)`` for an ``affine=False`` ``bn``, updating its running statistics exactly as ``bn(z)`` would."""
    training, momentum = _bn_args(bn)
    return _WeightedBatchNorm.apply(z, w, bn.running_mean, bn.running_var, training, momentum, bn.eps)


class _BNReLUDepthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, weight, running_mean, running_var, training, momentum, eps, padding):
        x_hat, invstd = _normalise(z, running_mean, running_var, training, momentum, eps)
        ctx.training, ctx.padding = training, padding
        ctx.save_for_backward(x_hat, invstd, weight)
        return F.conv2d(F.relu(x_hat), weight, padding=padding, groups=z.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x_hat, invstd, weight = ctx.saved_tensors
        p = ctx.padding
        grad_r, grad_weight, _ = torch.ops.aten.convolution_backward(
            _like(g, x_hat), F.relu(x_hat), weight, None, [1, 1], [p, p], [1, 1], False, [0, 0], x_hat.shape[1],
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False],
        )
        grad_z = None
        if grad_r is not None:
            grad_z = _normalise_backward(relu_mask(grad_r, x_hat), x_hat, invstd, ctx.training)
        return grad_z, grad_weight, None, None, None, None, None, None


def bn_relu_depthwise(z: Tensor, bn: nn.BatchNorm2d, conv: nn.Conv2d) -> Tensor:
    """``conv(relu(bn(z)))`` for an affine-free ``bn`` and a stride-1 undilated depthwise ``conv`` without bias."""
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.bias is not None or conv.groups != z.shape[1]:
        raise ValueError("bn_relu_depthwise needs a stride-1, undilated depthwise conv without bias")
    training, momentum = _bn_args(bn)
    return _BNReLUDepthwise.apply(z, conv.weight, bn.running_mean, bn.running_var, training, momentum, bn.eps,
                                  conv.padding[0])
