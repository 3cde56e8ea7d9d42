import pytest
import torch

from irlas_darts.evaluation import (
    NB201Cell, NB201Network, NetworkCIFAR, NetworkImageNet, build_network, count_params,
)
from irlas_darts.ops import Identity, create_op
from irlas_darts.spaces import PUBLISHED_GENOTYPES, NB201Genotype, published_genotype
from irlas_darts.spaces.published import published_facts

V2 = published_genotype("DARTS_V2")
NB_ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"


# --- published parameter counts -------------------------------------------------------------------------------------
# Exact counts of the CIFAR networks (36 channels, 20 cells), without the auxiliary head; DARTS_V1's equals the original
# code's NetworkCIFAR(36, 10, 20) (see the note in resources/published_genotypes.json).
EXACT_PARAMS = {"DARTS_V1": 3_169_414, "DARTS_V2": 3_349_342, "PC_DARTS": 3_634_678, "PDARTS": 3_433_798,
                "DrNAS": 4_099_294}


@pytest.mark.parametrize("name", PUBLISHED_GENOTYPES)
def test_published_cifar_networks_have_their_exact_parameter_counts(name):
    params, aux = count_params(NetworkCIFAR(published_genotype(name), C=36, num_classes=10, layers=20))
    assert params == EXACT_PARAMS[name]
    assert aux > 0
    if name != "DARTS_V1":  # the paper rounds V1 and V2 alike to 3.3M
        assert round(params / 1e6, 1) == published_facts(name)["published_params_millions"]


def test_darts_v1_differs_from_v2_by_exactly_the_dil_conv_of_each_normal_cell():
    # The DARTS paper lists 3.3M for both orders, but the released DARTS_V1 cell is DARTS_V2's normal cell with its
    # dil_conv_3x3 edge turned into a skip (reduction cells hold only pools and skips in both), so it has 3.17M.
    v1 = NetworkCIFAR(published_genotype("DARTS_V1"), auxiliary=False)
    v2 = NetworkCIFAR(V2, auxiliary=False)
    dil = sum(p.numel() for cell in v2.cells if not cell.reduction
              for op, (_, _, name) in zip(cell.ops, V2.edges("normal")) if name == "dil_conv_3x3"
              for p in op.parameters())
    assert count_params(v1)[0] == count_params(v2)[0] - dil
    assert dil > 0 and round(count_params(v1)[0] / 1e6, 1) == 3.2


def test_imagenet_darts_v2_has_the_published_4_7m_parameters():
    params, aux = count_params(NetworkImageNet(V2, C=48, num_classes=1000, layers=14))
    assert round(params / 1e6, 1) == 4.7
    assert aux > 0


@pytest.mark.parametrize("op,expected", [("nor_conv_3x3", 1_531_546), ("none", 73_306)])
def test_nb201_network_parameter_range_matches_the_benchmark(op, expected):
    # NAS-Bench-201 CIFAR-10: params range from 0.073306M (all none) to 1.531546M (all nor_conv_3x3).
    arch = f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|"
    params, aux = count_params(NB201Network(NB201Genotype.from_arch_str(arch), C=16, N=5, num_classes=10))
    assert (params, aux) == (expected, 0)


# --- DARTS networks -------------------------------------------------------------------------------------------------
def tiny_cifar(**kw):
    defaults = dict(C=4, num_classes=7, layers=5, auxiliary=True, drop_path_prob=0.0, in_channels=3)
    return NetworkCIFAR(V2, **{**defaults, **kw})


@pytest.mark.parametrize("size,in_channels", [(32, 3), (28, 1), (8, 1)])
def test_cifar_network_outputs_logits_and_aux_only_in_training(size, in_channels):
    torch.manual_seed(0)
    net = tiny_cifar(in_channels=in_channels)
    x = torch.randn(2, in_channels, size, size)
    logits, aux = net.train()(x)
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    logits, aux = net.eval()(x)
    assert logits.shape == (2, 7) and aux is None
    assert tiny_cifar(auxiliary=False, in_channels=in_channels).train()(x)[1] is None


def test_cifar_network_layout_follows_darts():
    net = tiny_cifar(layers=8)
    reductions = [i for i, cell in enumerate(net.cells) if cell.reduction]
    assert reductions == [8 // 3, 2 * 8 // 3]
    # c_{k-2} of the cell after a reduction comes at twice the resolution: factorized reduce, else a 1x1 conv.
    kinds = [type(cell.preprocess0).__name__ for cell in net.cells]
    assert [k == "FactorizedReduce" for k in kinds] == [i - 1 in reductions for i in range(8)]
    assert net.stem[0].out_channels == 3 * 4
    assert net.classifier.in_features == 4 * 4 * 4  # 4 concatenated nodes at 4C channels


def test_drop_path_is_drawn_from_the_network_generator_and_spares_identities():
    torch.manual_seed(0)
    net = tiny_cifar(drop_path_prob=0.5).train()
    x = torch.randn(4, 3, 16, 16)

    def run(seed):
        net.generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(0)  # anything drawn from the global RNG would show up as a difference between seeds
        return net(x)[0]

    assert torch.equal(run(1), run(1))
    assert not torch.allclose(run(1), run(2))
    net.drop_path_prob = 0.0
    assert torch.equal(run(1), run(2))
    for cell in net.cells:
        assert [not isinstance(op, Identity) for op in cell.ops] == cell.droppable
    assert not all(all(cell.droppable) for cell in net.cells)  # DARTS_V2 has identity skips


def test_every_parameter_of_the_cifar_network_gets_a_gradient():
    torch.manual_seed(0)
    net = tiny_cifar(drop_path_prob=0.0).train()
    logits, aux = net(torch.randn(3, 3, 16, 16))
    (logits.sum() + aux.sum()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing


def test_imagenet_network_forward_on_224_pixels():
    torch.manual_seed(0)
    net = NetworkImageNet(V2, C=8, num_classes=5, layers=5, auxiliary=True)
    x = torch.randn(2, 3, 224, 224)
    logits, aux = net.train()(x)
    assert logits.shape == (2, 5) and aux.shape == (2, 5)
    logits, aux = net.eval()(x[:1])
    assert logits.shape == (1, 5) and aux is None


# --- NAS-Bench-201 network ------------------------------------------------------------------------------------------
def test_nb201_cell_skips_none_edges_without_changing_the_result():
    g = NB201Genotype.from_arch_str(NB_ARCH)
    torch.manual_seed(0)
    cell = NB201Cell(g, 4)
    assert len(cell.ops) == sum(op != "none" for _, _, op in g.edges())
    # Reference: every edge built, `none` as the strided zero (the benchmark's cell), sharing the built ops' weights.
    live = iter(cell.ops)
    ref_ops = [create_op("nb201", op, 4, 1, affine=True) if op == "none" else next(live) for _, _, op in g.edges()]
    x = torch.randn(2, 4, 6, 6)
    for mode in (True, False):
        cell.train(mode)
        nodes = [x]
        for j in range(1, 4):
            nodes.append(sum(op(nodes[src]) for (src, dst, _), op in zip(g.edges(), ref_ops) if dst == j))
        assert torch.allclose(cell(x), nodes[-1], atol=1e-6)


def test_nb201_cell_with_a_dead_output_gives_zeros():
    g = NB201Genotype.from_arch_str("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|")
    out = NB201Cell(g, 4)(torch.randn(2, 4, 5, 5))
    assert out.shape == (2, 4, 5, 5) and torch.count_nonzero(out) == 0


def test_nb201_network_skeleton_and_output():
    net = NB201Network(NB201Genotype.from_arch_str(NB_ARCH), C=4, N=2, num_classes=3, in_channels=1)
    kinds = [type(m).__name__ for m in net.cells]
    stage = ["NB201Cell"] * 2
    assert kinds == stage + ["ResNetBasicblock"] + stage + ["ResNetBasicblock"] + stage
    assert net.classifier.in_features == 16
    logits, aux = net(torch.randn(2, 1, 8, 8))
    assert logits.shape == (2, 3) and aux is None


# --- build_network --------------------------------------------------------------------------------------------------
def test_build_network_dispatches_on_the_genotype():
    common = dict(in_channels=1, num_classes=3, C=4, layers=4, auxiliary=True, drop_path_prob=0.1)
    assert type(build_network(V2, **common)) is NetworkCIFAR
    assert type(build_network(V2, imagenet=True, **common)) is NetworkImageNet
    nb = build_network(NB201Genotype.from_arch_str(NB_ARCH), **common)
    assert type(nb) is NB201Network and nb.auxiliary is False
    assert sum(isinstance(m, NB201Cell) for m in nb.cells) == 3 * 4
    with pytest.raises(ValueError, match="imagenet"):
        build_network(NB201Genotype.from_arch_str(NB_ARCH), imagenet=True, **common)
    with pytest.raises(TypeError, match="genotype"):
        build_network("not a genotype", **common)
    with pytest.raises(TypeError, match="genotype"):
        NetworkCIFAR(NB201Genotype.from_arch_str(NB_ARCH))
