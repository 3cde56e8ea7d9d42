"""NAS-Bench-201 primitives (Dong & Yang, 2020) and the pieces of its macro skeleton.

The cell ops reuse the shared blocks of ``darts_ops``: ``nor_conv_*`` is ReLU-Conv-BN, ``skip_connect`` with stride 2
is a factorized reduction, ``none`` is the strided zero. Between stages the benchmark uses a ResNet basic block.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .darts_ops import ReLUConvBN, Zero, avg_pool_3x3, conv_bn_stem, skip_connect


class ResNetBasicblock(nn.Module):
    """The benchmark's residual block between stages: two ReLU-Conv3x3-BN plus a shortcut.

    The stride-2 shortcut is avg-pool 2x2 then 1x1 conv, as in NAS-Bench-201; ``ceil_mode`` keeps it the shape of the
    main path on odd sizes and changes nothing on even ones.
    """

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool = True) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ResNetBasicblock.stride={stride}; use 1 or 2")
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, 1, affine)
        if stride == 2:
            self.downsample: nn.Module = nn.Sequential(
                nn.AvgPool2d(2, stride=2, padding=0, ceil_mode=True),
                nn.Conv2d(C_in, C_out, 1, bias=False),
            )
        elif C_in != C_out:
            self.downsample = ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine)
        else:
            self.downsample = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


def nb201_stem(in_channels: int, C: int) -> nn.Sequential:
    """3x3 conv + BN from the image to ``C`` channels (16 in the benchmark)."""
    return conv_bn_stem(in_channels, C)


NB201_OP_FACTORIES: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda C, stride, affine: Zero(stride),
    "skip_connect": skip_connect,
    "nor_conv_1x1": lambda C, stride, affine: ReLUConvBN(C, C, 1, stride, 0, 1, affine),
    "nor_conv_3x3": lambda C, stride, affine: ReLUConvBN(C, C, 3, stride, 1, 1, affine),
    "avg_pool_3x3": lambda C, stride, affine: avg_pool_3x3(stride),
}
