"""The DARTS primitives (Liu et al., 2019) and the building blocks both spaces share.

Semantics follow the original DARTS code; the layout differs in one way: every op that begins with a ReLU is a
``ReLUFirst`` and can be fed an already rectified input (``forward_activated``). A mixed edge then computes
``relu(x)`` once for all its conv ops instead of once per op, with identical results.

``affine`` is the BatchNorm flag: ``False`` in the supernet (DARTS search), ``True`` in evaluation networks.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .forward_mode import batch_norm_relu_dual, dual_batch_norm
from .lean import MaxPool3x3, bn_relu_depthwise, lean_batch_norm, phase_depthwise_conv


class ReLUFirst(nn.Module):
    """An op of the form ``final_bn(body(relu(x)))``; ``forward_activated`` takes ``relu(x)`` precomputed by the
    caller, ``body`` stops before the final BatchNorm (a mixed op fuses that BN with the op's weight)."""

    @property
    def final_bn(self) -> nn.BatchNorm2d:
        return self.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_activated(F.relu(x))

    def forward_activated(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_bn(self.body(x))

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def starts_with_relu(module: nn.Module) -> bool:
    """Whether ``module`` may be fed ``relu(x)`` through ``forward_activated``."""
    return isinstance(module, ReLUFirst)


def subsampled_1x1(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)``; a 1x1 conv with stride 2 (no padding) runs as the 1x1 conv of every other pixel.

    The same sums; and it avoids torch 2.13's oneDNN backward of channels-last 1x1 stride-2 convs with few input
    channels (2 and 4 tested), which corrupts the heap (the 4-channel stride-2 cases of tests/search/test_supernet.py
    hit it).
    """
    if conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.padding == (0, 0) and conv.groups == 1:
        return F.conv2d(x[:, :, ::2, ::2], conv.weight, conv.bias)
    return conv(x)


class ReLUConvBN(ReLUFirst):
    """ReLU -> Conv -> BN; DARTS' 1x1 preprocessing and NAS-Bench-201's ``nor_conv_*``."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int = 1,
                 affine: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return subsampled_1x1(x, self.conv)


class DilConv(ReLUFirst):
    """ReLU -> depthwise (dilated) conv -> pointwise conv -> BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                   groups=C_in, bias=False)
        self.pointwise = nn.Conv2d(C_in, C_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(phase_depthwise_conv(x, self.depthwise))


class SepConv(ReLUFirst):
    """Two stacked ReLU-dwconv-pwconv-BN units; only the first has the stride (DARTS' separable conv)."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.unit1 = DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine)
        self.unit2 = DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine)

    @property
    def final_bn(self) -> nn.BatchNorm2d:
        return self.unit2.bn

    def body(self, x: torch.Tensor) -> torch.Tensor:
        z = self.unit1.body(x)
        if lean_batch_norm(self.unit1.bn):
            return self.unit2.pointwise(bn_relu_depthwise(z, self.unit1.bn, self.unit2.depthwise))
        if dual_batch_norm(self.unit1.bn):  # the exact product's dual pass
            return self.unit2.body(batch_norm_relu_dual(z, self.unit1.bn))
        return self.unit2.body(F.relu(self.unit1.bn(z)))


class FactorizedReduce(ReLUFirst):
    """Halves the resolution with two 1x1 stride-2 convs on pixel grids offset by one, concatenated.

    The offset path is zero-padded at the bottom/right, which changes nothing for even sizes (the original code)
    and keeps both halves the same shape for odd ones.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        half = C_out // 2
        self.conv_1 = nn.Conv2d(C_in, half, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - half, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        # Both halves are 1x1 stride-2 convs, run as 1x1 convs of every other pixel (see subsampled_1x1).
        even, odd = x[:, :, ::2, ::2], F.pad(x[:, :, 1::2, 1::2], (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return torch.cat([F.conv2d(even, self.conv_1.weight), F.conv2d(odd, self.conv_2.weight)], dim=1)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the op's output (strided). Supernets never build it; eval code may."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def avg_pool_3x3(stride: int) -> nn.Module:
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def max_pool_3x3(stride: int) -> nn.Module:
    return MaxPool3x3(stride)


def skip_connect(C: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(C, C, affine=affine)


def conv_bn_stem(in_channels: int, C_out: int) -> nn.Sequential:
    """3x3 conv + BN (affine): the stem of the DARTS CIFAR networks and of NAS-Bench-201."""
    return nn.Sequential(nn.Conv2d(in_channels, C_out, 3, padding=1, bias=False), nn.BatchNorm2d(C_out))


DARTS_OP_FACTORIES: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": lambda C, stride, affine: max_pool_3x3(stride),
    "avg_pool_3x3": lambda C, stride, affine: avg_pool_3x3(stride),
    "skip_connect": skip_connect,
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
}
