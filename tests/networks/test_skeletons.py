"""One skeleton per space: the supernet and the evaluation network differ only in the cell they place."""

import pytest
import torch
from torch import nn

from irlas_darts.evaluation import NB201Network, NetworkCIFAR, NetworkImageNet, build_network
from irlas_darts.evaluation.build import NETWORKS
from irlas_darts.networks import CellSlot, DartsCellBase, DartsSkeleton, NB201Skeleton
from irlas_darts.search.supernet import SUPERNETS, DartsSupernet, NB201Supernet, create_supernet
from irlas_darts.spaces import NB201Genotype, available_spaces, create_space, published_genotype

V2 = published_genotype("DARTS_V2")
NB_ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"


class Probe(DartsCellBase):
    """A cell that only records its slot and passes c_{k-1} on, widened to ``multiplier * C`` channels."""

    multiplier = 4

    def __init__(self, slot: CellSlot) -> None:
        super().__init__(slot, affine=False)
        self.slot = slot

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, *fed) -> torch.Tensor:
        h = self.preprocess1(s1)
        if self.reduction:
            h = h[..., ::2, ::2]
        return torch.cat([h] * self.multiplier, dim=1)


def test_darts_skeleton_hands_each_cell_the_original_channel_bookkeeping():
    net = DartsSkeleton(Probe, C=16, layers=8, num_classes=10, in_channels=3)
    slots = [(c.slot.C_prev_prev, c.slot.C_prev, c.slot.C, c.slot.reduction, c.slot.reduction_prev) for c in net.cells]
    assert slots == [
        (48, 48, 16, False, False), (48, 64, 16, False, False), (64, 64, 32, True, False),
        (64, 128, 32, False, True), (128, 128, 32, False, False), (128, 128, 64, True, False),
        (128, 256, 64, False, True), (256, 256, 64, False, False),
    ]
    assert net.classifier.in_features == 256 and net.auxiliary_head is None


def test_darts_skeleton_feeds_every_cell():
    fed = []
    net = DartsSkeleton(Probe, C=4, layers=3, num_classes=5, in_channels=1)
    logits, aux = net.run(torch.randn(2, 1, 8, 8), lambda i, cell: fed.append((i, cell.reduction)) or ("x",))
    assert logits.shape == (2, 5) and aux is None
    assert fed == [(0, False), (1, True), (2, True)]


def test_darts_skeleton_rejects_an_unknown_stem():
    with pytest.raises(ValueError, match="stem"):
        DartsSkeleton(Probe, C=4, layers=3, num_classes=5, in_channels=1, stem="mobile")


def test_supernet_and_evaluation_networks_share_the_darts_skeleton():
    supernet = DartsSupernet(C=4, layers=5, num_classes=3, in_channels=1)
    cifar = NetworkCIFAR(V2, C=4, layers=5, num_classes=3, in_channels=1, auxiliary=False)
    assert isinstance(supernet, DartsSkeleton) and isinstance(cifar, DartsSkeleton)
    assert isinstance(NetworkImageNet(V2, C=8, layers=5, num_classes=3), DartsSkeleton)

    def outside_the_cells(net):  # stem and classifier: the same modules and shapes in both
        return {k: v.shape for k, v in net.state_dict().items() if not k.startswith("cells.")}

    def preprocessing(net):
        return [(type(c.preprocess0).__name__, c.preprocess0.state_dict()[next(iter(c.preprocess0.state_dict()))].shape,
                 c.preprocess1.conv.weight.shape, c.reduction) for c in net.cells]

    assert outside_the_cells(supernet) == outside_the_cells(cifar)
    assert preprocessing(supernet) == preprocessing(cifar)  # V2 concatenates 4 nodes like the supernet


def test_supernet_and_evaluation_network_share_the_nb201_skeleton():
    supernet = NB201Supernet(C=4, N=2, num_classes=3, in_channels=1)
    network = NB201Network(NB201Genotype.from_arch_str(NB_ARCH), C=4, N=2, num_classes=3, in_channels=1)
    assert isinstance(supernet, NB201Skeleton) and isinstance(network, NB201Skeleton)
    assert supernet.is_cell == network.is_cell == [True, True, False, True, True, False, True, True]

    def outside_the_cells(net):
        cells = {f"cells.{i}." for i, is_cell in enumerate(net.is_cell) if is_cell}
        return {k: v.shape for k, v in net.state_dict().items() if not any(k.startswith(c) for c in cells)}

    assert outside_the_cells(supernet) == outside_the_cells(network)


def test_nb201_skeleton_passes_cell_args_to_cells_only():
    seen = []

    class Cell(nn.Module):
        def forward(self, h, tag):
            seen.append(tag)
            return h

    net = NB201Skeleton(lambda C: Cell(), C=4, N=1, num_classes=2, in_channels=1)
    assert net.run(torch.randn(1, 1, 8, 8), "w").shape == (1, 2)
    assert seen == ["w", "w", "w"]


@pytest.mark.parametrize("space", available_spaces())
def test_every_space_has_a_supernet_and_an_evaluation_network(space):
    assert space in SUPERNETS
    sp = create_space(space)
    net = create_supernet(space, in_channels=1, num_classes=3, C=4, layers=3)
    assert net(torch.randn(1, 1, 8, 8), {c: torch.full(sp.alpha_shape, 1.0 / len(sp.ops)) for c in sp.cell_types}
               ).shape == (1, 3)
    genotype = sp.derive({c: torch.randn(sp.alpha_shape) for c in sp.cell_types})
    assert any(isinstance(genotype, t) for t in NETWORKS)
    evaluated = build_network(genotype, in_channels=1, num_classes=3, C=4, layers=3, auxiliary=False,
                              drop_path_prob=0.0)
    assert evaluated.eval()(torch.randn(1, 1, 8, 8))[0].shape == (1, 3)


def test_create_supernet_names_the_registered_spaces_for_an_unknown_one():
    with pytest.raises(KeyError, match="'darts' or 'nb201'"):
        create_supernet("nasnet")
