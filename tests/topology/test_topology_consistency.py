"""The consistency law (SPEC §4.1): as tau -> 0, soft quantities on the alphas equal the discrete ones on the genotype
the space derives from them. Alphas are drawn at random and redrawn when any decision of the rule is a near tie."""

import pytest
import torch

from irlas_darts.spaces import create_space
from irlas_darts.topology import (
    covered_cells, feature_names, genotype_feature_expectation, hard_adjacency, node_feature_names, node_features,
    soft_adjacency, soft_feature_expectation,
)

TAU = 1e-4
GAP = 2e-2  # every decision margin is >= GAP, so every sigmoid / softmax sits >= 100 temperatures from its switch


def decision_gap(space, alpha: torch.Tensor) -> float:
    """Smallest margin of any decision the derivation rule takes on this cell."""
    none = space.ops.index("none")
    real = [o for o in range(len(space.ops)) if o != none]
    p = alpha.softmax(-1)
    top2 = alpha[:, real].topk(2).values
    gaps = [(top2[:, 0] - top2[:, 1]).min()]  # argmax real op (class mass)
    strength = p[:, real].max(-1).values
    k = getattr(space, "k", None)
    if k is None:
        gaps.append((strength - p[:, none]).abs().min())  # NB201: kept or not
    else:
        for j in space.nodes:
            rows = [space.edge_index(i, j) for i in range(j)]
            if len(rows) > k:
                top = strength[rows].topk(k + 1).values
                gaps.append((top[k - 1] - top[k]) / 2)  # distance of the k-th / (k+1)-th from the midpoint
    return float(min(gaps))


def random_alphas(space, generator: torch.Generator) -> dict[str, torch.Tensor]:
    while True:
        alphas = {c: 2 * torch.randn(space.alpha_shape, generator=generator, dtype=torch.float64) for c in space.cell_types}
        if all(decision_gap(space, a) >= GAP for a in alphas.values()):
            return alphas


@pytest.mark.parametrize("positions", ["sources", "edges"])
@pytest.mark.parametrize("name", ["darts", "nb201"])
def test_soft_features_equal_derived_genotype_features_as_tau_vanishes(name, positions):
    space = create_space(name)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        alphas = random_alphas(space, gen)
        genotype = space.derive(alphas)
        one_hot = space.one_hot(genotype)
        for cell in space.cell_types:
            soft = soft_adjacency(space, alphas[cell], TAU)
            hard = hard_adjacency(space, one_hot[cell].double())
            torch.testing.assert_close(soft.keep, hard.keep, atol=1e-9, rtol=0)
            torch.testing.assert_close(soft.typed, hard.typed, atol=1e-9, rtol=0)
            torch.testing.assert_close(soft.nonempty, hard.nonempty, atol=1e-9, rtol=0)
            torch.testing.assert_close(soft.keep * soft.pointwise, hard.keep * hard.pointwise, atol=1e-9, rtol=0)
            torch.testing.assert_close(node_features(space, soft, positions), node_features(space, hard, positions),
                                       atol=1e-9, rtol=0)
        for cells in ("normal", "both"):
            mu_soft = soft_feature_expectation(space, alphas, TAU, cells, positions=positions)
            mu_hard = genotype_feature_expectation(space, genotype, cells, positions=positions)
            assert mu_soft.shape == (len(feature_names(space, cells, positions)),)
            torch.testing.assert_close(mu_soft, mu_hard, atol=1e-9, rtol=0)


def test_nb201_cells_with_an_empty_node_obey_the_law():
    """A node whose in-edges are all `none` has conv-depth 0 in both forms (the `nonempty` factor)."""
    space = create_space("nb201")
    gen = torch.Generator().manual_seed(1)
    seen_empty = 0
    for _ in range(200):
        alphas = random_alphas(space, gen)
        alphas["cell"][[0], 0] += 6.0  # `none` wins on edge 0->1, so node 1 often has no in-edge
        if decision_gap(space, alphas["cell"]) < GAP:
            continue
        genotype = space.derive(alphas)
        if all(op == "none" for op, _ in genotype.nodes[0]):
            seen_empty += 1
            phi = node_features(space, hard_adjacency(space, space.one_hot(genotype)["cell"].double()))
            depth = [i for i, n in enumerate(node_feature_names(space)) if n.startswith("depth")]
            assert phi[0, depth].sum() == 0
        torch.testing.assert_close(soft_feature_expectation(space, alphas, TAU),
                                   genotype_feature_expectation(space, genotype), atol=1e-9, rtol=0)
    assert seen_empty > 0


@pytest.mark.parametrize("name", ["darts", "nb201"])
def test_soft_adjacency_is_a_valid_relaxation_at_any_tau(name):
    space = create_space(name)
    alpha = torch.randn(space.alpha_shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for tau in (3.0, 0.3, 0.03):
        adj = soft_adjacency(space, alpha, tau)
        assert ((adj.keep >= 0) & (adj.keep <= 1)).all()
        torch.testing.assert_close(adj.log_keep.exp(), adj.keep)
        torch.testing.assert_close(adj.mass.sum(-1), torch.ones(len(space.edges), dtype=torch.float64))
        assert ((adj.nonempty >= 0) & (adj.nonempty <= 1)).all()
    if name == "darts":  # node 2 has exactly k = 2 in-edges: always kept
        rows = [space.edge_index(0, 2), space.edge_index(1, 2)]
        assert (soft_adjacency(space, alpha, 0.3).keep[rows] == 1).all()


def test_covered_cells_and_names():
    darts, nb201 = create_space("darts"), create_space("nb201")
    assert covered_cells(darts, "normal") == ("normal",)
    assert covered_cells(darts, "both") == ("normal", "reduce")
    assert covered_cells(nb201, "both") == ("cell",)
    # every node keeps its own entries: DARTS 4 nodes x 16 per cell, NB201 3 nodes x 14 (its 1x1 conv adds
    # pointwise_from_<source>; DARTS has no pointwise op, so no such entries)
    assert len(feature_names(darts, "normal")) == 64 and len(feature_names(darts, "both")) == 128
    assert len(feature_names(nb201)) == 42
    assert len(set(feature_names(darts, "both"))) == 128
    assert not any("pointwise" in n for n in feature_names(darts, "both", "edges"))
    assert "cell.node3.pointwise_from_nodes" in feature_names(nb201)
    # positions="edges": every earlier node its own source (DARTS 5 sources, NB201 3): 4 x 22 and 3 x 18
    assert len(feature_names(darts, "normal", "edges")) == 88 and len(feature_names(nb201, "normal", "edges")) == 54
    assert "normal.node5.skip_from_node3" in feature_names(darts, "normal", "edges")
    with pytest.raises(ValueError, match="regularizer.positions"):
        feature_names(darts, "normal", "nodes")
    with pytest.raises(ValueError, match="regularizer.cells"):
        covered_cells(darts, "reduce")
    with pytest.raises(ValueError, match="tau"):
        soft_adjacency(darts, torch.zeros(darts.alpha_shape), 0.0)
