"""One entry point from a genotype to its evaluation network, whatever the space."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..spaces import AnyGenotype, Genotype, NB201Genotype
from .darts_networks import NetworkCIFAR, NetworkImageNet
from .nb201_network import NB201Network

NetworkBuilder = Callable[..., nn.Module]
NETWORKS: dict[type, NetworkBuilder] = {}


def register_network(genotype_type: type) -> Callable[[NetworkBuilder], NetworkBuilder]:
    """Register the evaluation network of a space's genotypes: ``build(genotype, in_channels=, num_classes=, C=,
    layers=, auxiliary=, drop_path_prob=, imagenet=)``."""
    def deco(build: NetworkBuilder) -> NetworkBuilder:
        NETWORKS[genotype_type] = build
        return build

    return deco


@register_network(Genotype)
def _darts_network(genotype: Genotype, *, in_channels: int, num_classes: int, C: int, layers: int, auxiliary: bool,
                   drop_path_prob: float, imagenet: bool) -> nn.Module:
    cls = NetworkImageNet if imagenet else NetworkCIFAR
    return cls(genotype, C=C, num_classes=num_classes, layers=layers, auxiliary=auxiliary,
               drop_path_prob=drop_path_prob, in_channels=in_channels)


@register_network(NB201Genotype)
def _nb201_network(genotype: NB201Genotype, *, in_channels: int, num_classes: int, C: int, layers: int,
                   auxiliary: bool, drop_path_prob: float, imagenet: bool) -> nn.Module:
    if imagenet:
        raise ValueError("imagenet=True: there is no ImageNet network for NAS-Bench-201 cells; use a DARTS genotype")
    return NB201Network(genotype, C=C, N=layers, num_classes=num_classes, in_channels=in_channels)


def build_network(
    genotype: AnyGenotype,
    *,
    in_channels: int,
    num_classes: int,
    C: int,
    layers: int,
    auxiliary: bool,
    drop_path_prob: float,
    imagenet: bool = False,
) -> nn.Module:
    """The evaluation network of ``genotype``; every network's ``forward`` returns ``(logits, logits_aux | None)``.

    DARTS genotypes give ``NetworkCIFAR`` (or ``NetworkImageNet`` with ``imagenet=True``), ``layers`` being the number
    of cells. NAS-Bench-201 genotypes give ``NB201Network`` with ``layers`` cells per stage (the benchmark's N = 5);
    the benchmark trains without auxiliary head and drop path, so ``auxiliary`` and ``drop_path_prob`` do not apply
    there (the returned network's ``auxiliary`` attribute says whether a head was built).
    """
    build = next((NETWORKS[t] for t in type(genotype).__mro__ if t in NETWORKS), None)
    if build is None:
        kinds = " or ".join(t.__name__ for t in NETWORKS)
        raise TypeError(f"genotype: expected a {kinds}, got {type(genotype).__name__}")
    return build(genotype, in_channels=in_channels, num_classes=num_classes, C=C, layers=layers, auxiliary=auxiliary,
                 drop_path_prob=drop_path_prob, imagenet=imagenet)
