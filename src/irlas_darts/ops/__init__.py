"""Building blocks of both search spaces; ``create_op`` is the one way supernets and eval networks make an op."""

from __future__ import annotations

from typing import Callable

from torch import nn

from .darts_ops import (
    DARTS_OP_FACTORIES, DilConv, FactorizedReduce, Identity, ReLUConvBN, ReLUFirst, SepConv, Zero, conv_bn_stem,
    starts_with_relu,
)
from .nb201_ops import NB201_OP_FACTORIES, ResNetBasicblock, nb201_stem

OP_FACTORIES: dict[str, dict[str, Callable[[int, int, bool], nn.Module]]] = {
    "darts": DARTS_OP_FACTORIES,
    "nb201": NB201_OP_FACTORIES,
}


def create_op(space: str, op: str, C: int, stride: int, affine: bool) -> nn.Module:
    """The op ``op`` of search space ``space`` on ``C`` channels; ``affine`` is the BatchNorm flag."""
    if space not in OP_FACTORIES:
        raise KeyError(f"space={space!r} has no ops; use one of {sorted(OP_FACTORIES)}")
    factories = OP_FACTORIES[space]
    if op not in factories:
        raise KeyError(f"op={op!r} is not in the {space} space; use one of {list(factories)}")
    if stride not in (1, 2):
        raise ValueError(f"stride={stride} for op {op!r}; use 1 or 2")
    return factories[op](C, stride, affine)


__all__ = [
    "DilConv", "FactorizedReduce", "Identity", "OP_FACTORIES", "ReLUConvBN", "ReLUFirst", "ResNetBasicblock",
    "SepConv", "Zero", "conv_bn_stem", "create_op", "nb201_stem", "starts_with_relu",
]
