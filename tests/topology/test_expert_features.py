"""Expert cells from conf/expert/*.yaml parse in each space, and their features match values worked out by hand."""

from pathlib import Path

import pytest
import torch
import yaml

from irlas_darts.spaces import create_space
from irlas_darts.topology import (
    expert_cells, expert_feature_expectation, expert_texts, feature_names, genotype_feature_expectation,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "expert"
RESNEXT_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def load(name: str) -> dict:
    return yaml.safe_load((CONF / f"{name}.yaml").read_text())


def named(space, mu) -> dict[str, float]:
    return dict(zip(feature_names(space), mu.tolist()))


def test_nb201_resnext_features_by_hand():
    """phi per node (gamma = 0.9), entries {conv,pool,skip,pointwise}_from_{input0,nodes}, depth0..3, consumed,
    residual (this cell has no 1x1 conv, so every pointwise entry is 0):
      node 1: conv 0->1                      -> conv_from_input0 1; depth1 1; consumed 1 (feeds 3)
      node 2: conv 0->2 (1->2 is none)       -> conv_from_input0 1; depth1 1; consumed 1 (feeds 3)
      node 3: skip 0->3, conv 1->3, conv 2->3 -> skip_from_input0 1, conv_from_nodes 2; depth0 1/3, depth2 2/3;
                                                residual 1
    (depth of node 3: one in-edge of three is the depth-0 skip, two are convs after depth-1 nodes.)
    mu = (phi1, 0.9 phi2, 0.81 phi3); every entry not listed is 0."""
    space = create_space("nb201")
    mu = named(space, genotype_feature_expectation(space, space.genotype_from_text(RESNEXT_NB201)))
    expected = {
        "cell.node1.conv_from_input0": 1.0, "cell.node1.depth1": 1.0, "cell.node1.consumed": 1.0,
        "cell.node2.conv_from_input0": 0.9, "cell.node2.depth1": 0.9, "cell.node2.consumed": 0.9,
        "cell.node3.skip_from_input0": 0.81, "cell.node3.conv_from_nodes": 0.81 * 2,
        "cell.node3.depth0": 0.81 / 3, "cell.node3.depth2": 0.81 * 2 / 3, "cell.node3.residual": 0.81,
    }
    assert len(mu) == 3 * 14 and set(expected) <= set(mu)
    for key, value in mu.items():
        assert value == pytest.approx(expected.get(key, 0.0), abs=1e-12), key


def test_nb201_bottleneck_cell_differs_only_in_the_kind_of_its_first_convs():
    """ResNeXt's bottleneck order (1x1 on 0->1 and 0->2, 3x3 on 1->3 and 2->3): the same topology as the 3x3 cell,
    so every entry equals it except at nodes 1 and 2, whose convs from the input move from conv_from_input0 to
    pointwise_from_input0 (1 and 0.9: a 1x1 is counted once, as pointwise); node 3's convs see neighbours, so its
    entries stay."""
    space = create_space("nb201")
    bottleneck = RESNEXT_NB201.replace("nor_conv_3x3~0|+|nor_conv_3x3~0", "nor_conv_1x1~0|+|nor_conv_1x1~0")
    assert bottleneck != RESNEXT_NB201
    mu_b = named(space, genotype_feature_expectation(space, space.genotype_from_text(bottleneck)))
    mu_s = named(space, genotype_feature_expectation(space, space.genotype_from_text(RESNEXT_NB201)))
    differ = {k: mu_b[k] - mu_s[k] for k in mu_b if abs(mu_b[k] - mu_s[k]) > 1e-12}
    assert differ == pytest.approx({"cell.node1.pointwise_from_input0": 1.0, "cell.node2.pointwise_from_input0": 0.9,
                                    "cell.node1.conv_from_input0": -1.0, "cell.node2.conv_from_input0": -0.9})


def test_darts_resnext_first_cell_by_hand():
    """node2 = conv(c1) + conv(c0); node3 = conv(node2) + skip(c1); node4 = node2's twin; node5 = conv(node4) + skip(c1).
    Discounts 1, 0.9, 0.81, 0.729 for nodes 2..5."""
    space = create_space("darts")
    genotype = expert_cells(space, load("resnext")["darts"])[0]
    mu = named(space, genotype_feature_expectation(space, genotype))
    g = dict(zip(range(2, 6), [1.0, 0.9, 0.81, 0.729]))
    assert len(mu) == 4 * 16
    for node in (2, 4):  # the split: one conv from each input, depth 1, feeds the next node
        assert mu[f"normal.node{node}.conv_from_input0"] == mu[f"normal.node{node}.conv_from_input1"] == g[node]
        assert mu[f"normal.node{node}.depth1"] == mu[f"normal.node{node}.consumed"] == pytest.approx(g[node])
        assert mu[f"normal.node{node}.skip_from_input1"] == mu[f"normal.node{node}.residual"] == 0
    for node in (3, 5):  # transform + the shortcut of c_{k-1}: half depth 0 (the skip), half depth 2
        assert mu[f"normal.node{node}.skip_from_input1"] == mu[f"normal.node{node}.conv_from_nodes"] == pytest.approx(g[node])
        assert mu[f"normal.node{node}.conv_from_input1"] == mu[f"normal.node{node}.conv_from_input0"] == 0
        assert mu[f"normal.node{node}.depth0"] == mu[f"normal.node{node}.depth2"] == pytest.approx(0.5 * g[node])
        assert mu[f"normal.node{node}.residual"] == pytest.approx(g[node])
        assert mu[f"normal.node{node}.consumed"] == 0
    assert all(mu[f"normal.node{n}.{k}_from_{s}"] == 0 for n in g for k in ("pool", "skip")
               for s in ("input0", "nodes"))


@pytest.mark.parametrize("expert", ["resnext", "resnet"])
@pytest.mark.parametrize("name", ["darts", "nb201"])
def test_expert_configs_load_in_every_space(expert, name):
    space = create_space(name)
    config = load(expert)
    assert config["name"] == expert
    cells = expert_cells(space, expert_texts(config, space))
    assert cells and all(c.space == name for c in cells)
    mu_e = expert_feature_expectation(space, cells, "both")
    mus = torch.stack([genotype_feature_expectation(space, c, "both") for c in cells])
    torch.testing.assert_close(mu_e, mus.mean(0))


def test_resnext_mu_expert_in_nb201_is_the_hand_computed_cell():
    """Both listed NB201 cells (3x3 and 1x1-then-3x3 branches) share one topology, so mu_E is the cell above except
    that the first convs into nodes 1 and 2 are half a conv and half a pointwise conv: the expert leaves their kernel
    open, not the second ones'."""
    space = create_space("nb201")
    cells = expert_cells(space, load("resnext")["nb201"])
    mu_e = named(space, expert_feature_expectation(space, cells))
    mu = named(space, genotype_feature_expectation(space, space.genotype_from_text(RESNEXT_NB201)))
    mu["cell.node1.pointwise_from_input0"], mu["cell.node2.pointwise_from_input0"] = 0.5, 0.45
    mu["cell.node1.conv_from_input0"], mu["cell.node2.conv_from_input0"] = 0.5, 0.45
    assert mu_e == pytest.approx(mu, abs=1e-12)


def test_resnet_and_resnext_differ():
    for name in ("darts", "nb201"):
        space = create_space(name)
        a = expert_feature_expectation(space, expert_cells(space, load("resnext")[name]))
        b = expert_feature_expectation(space, expert_cells(space, load("resnet")[name]))
        assert (a - b).norm() > 0.5


def test_bad_expert_cells_fail_with_the_path():
    darts, nb201 = create_space("darts"), create_space("nb201")
    with pytest.raises(ValueError, match=r"expert.nb201\[0\]"):
        expert_cells(nb201, ["Genotype(normal=[], normal_concat=[], reduce=[], reduce_concat=[])"])
    with pytest.raises(ValueError, match=r"expert.darts\[0\]"):
        expert_cells(darts, [RESNEXT_NB201])
    with pytest.raises(ValueError, match="uses op 'conv_7x7'"):
        expert_cells(nb201, [RESNEXT_NB201.replace("nor_conv_3x3~0|+", "conv_7x7~0|+", 1)])
    with pytest.raises(ValueError, match="expert.darts is empty"):
        expert_cells(darts, [])
    with pytest.raises(ValueError, match="no cells for the nb201 space"):
        expert_texts({"name": "x", "darts": ["..."]}, nb201)


def test_genotypes_of_another_space_are_refused():
    darts, nb201 = create_space("darts"), create_space("nb201")
    with pytest.raises(ValueError, match="is a nb201 genotype"):
        expert_cells(darts, [nb201.genotype_from_text(RESNEXT_NB201)])
