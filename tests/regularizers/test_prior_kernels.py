"""The prior carries over which of the expert's convolutions see their neighbours (README "The prior").

NAS-Bench-201 offers a 1x1 and a 3x3 conv; the features count kept pointwise (1x1) convs per position, apart from
the convs that see their neighbours. Laws, for both shipped experts and both positions (``edges`` on one seed): from
a cell whose every edge leans to the 1x1 conv, the prior alone turns every edge where each expert cell has a 3x3
conv into a 3x3 conv. (Not a law of its first step: an edge's keep probability follows its strongest op, so while
the prior still asks for more kept convs, its first steps raise the leading 1x1 too.) A 1x1 on an expert's 3x3 edge
costs both its entries of the mirror reward. DARTS has no pointwise op: its features have no such entries (test_topology_consistency).
"""

from pathlib import Path

import pytest
import torch
import yaml

from irlas_darts.regularizers import create_regularizer
from irlas_darts.spaces import create_space
from irlas_darts.topology import expert_cells, feature_names, genotype_feature_expectation

CONF = Path(__file__).resolve().parents[2] / "conf" / "expert"


def started(space, expert, seed, **options):
    cells = expert_cells(space, yaml.safe_load((CONF / f"{expert}.yaml").read_text())[space.name])
    reg = create_regularizer("irl", space, expert=cells, lam=1.0, **options)
    gen = torch.Generator().manual_seed(100 + seed)
    reg.start({c: 1e-3 * torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64) for c in space.cell_types})
    return reg


def all_pointwise(space, seed, lean=0.3, noise=0.1):
    gen = torch.Generator().manual_seed(seed)
    alpha = noise * torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64)
    alpha[:, space.ops.index("nor_conv_1x1")] += lean
    return alpha


def spatial_edges(space, reg):
    """Edges on which every expert cell has a 3x3 conv."""
    ops = [{(i, j): op for j, node in zip(space.nodes, g.nodes) for op, i in node} for g in reg.expert]
    return [e for e in space.edges if all(o[e] == "nor_conv_3x3" for o in ops)]


def descend_alone(space, reg, seed, epochs=10):
    x = torch.nn.Parameter(all_pointwise(space, seed))
    opt = torch.optim.Adam([x], lr=0.01, betas=(0.5, 0.999))
    for epoch in range(epochs):
        for _ in range(20):
            opt.zero_grad()
            reg.loss({"cell": x}).backward()
            opt.step()
        reg.update(epoch, {"cell": x}, space.derive({"cell": x}))
    derived = space.derive({"cell": x})
    return derived, {(i, j): op for j, node in zip(space.nodes, derived.nodes) for op, i in node}


@pytest.mark.parametrize("expert", ["resnext", "resnet"])
@pytest.mark.parametrize("seed, positions", [(0, "sources"), (1, "sources"), (2, "sources"), (0, "edges")])
def test_prior_alone_turns_those_edges_into_3x3_convs(expert, seed, positions):
    space = create_space("nb201")
    reg = started(space, expert, seed, positions=positions)
    assert spatial_edges(space, reg)  # ResNeXt: 1->3, 2->3; ResNet: 0->1, 1->2
    derived, ops = descend_alone(space, reg, seed)
    assert all(ops[e] == "nor_conv_3x3" for e in spatial_edges(space, reg)), derived


@pytest.mark.parametrize("expert", ["resnext", "resnet"])
def test_without_the_pointwise_entries_those_edges_stay_1x1(expert):
    """The control: the same descent with the space's 1x1 conv hidden from the features (no pointwise entries)."""
    space = create_space("nb201")
    space.pointwise_ops = frozenset()
    reg = started(space, expert, 0)
    derived, ops = descend_alone(space, reg, 0)
    assert all(ops[e] == "nor_conv_1x1" for e in spatial_edges(space, reg)), derived


def test_a_1x1_on_an_expert_3x3_edge_costs_both_its_entries():
    """Disjoint classes: a 1x1 where the ResNet expert has a 3x3 misses the conv entry and adds a pointwise one, so
    swapping it for the 3x3 gains both weights of the mirror reward. (With a 1x1 counted as a conv too, the swap
    gained the pointwise weight alone, about the soft cell's small 1x1 share, and searches kept the 1x1.)"""
    space = create_space("nb201")
    reg = started(space, "resnet", 0)
    resnet = reg.expert[0].to_text()
    assert resnet.startswith("|nor_conv_3x3~0|+")
    with_1x1 = resnet.replace("nor_conv_3x3~0|+", "nor_conv_1x1~0|+", 1)  # its conv 0->1 as a 1x1

    def reward(text):
        return float(reg.tracker.reward(genotype_feature_expectation(space, space.genotype_from_text(text))))

    w = dict(zip(feature_names(space), reg.tracker.w.abs().tolist()))
    conv, pointwise = w["cell.node1.conv_from_input0"], w["cell.node1.pointwise_from_input0"]
    assert conv > 0.5 and pointwise > 0  # the expert's conv against the near-uniform start's small 3x3 mass
    assert reward(resnet) - reward(with_1x1) == pytest.approx(conv + pointwise, abs=1e-12)
