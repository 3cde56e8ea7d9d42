import torch

from irlas_darts.spaces import DARTS_OPS, NB201_OPS, Genotype, create_space


def test_space_shapes():
    darts, nb201 = create_space("darts"), create_space("nb201")
    assert darts.alpha_shape == (14, 8) and darts.ops == DARTS_OPS
    assert nb201.alpha_shape == (6, 5) and nb201.ops == NB201_OPS
    assert nb201.edges == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert darts.edges[:5] == ((0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


def _set(alpha, space, src, dst, op, value):
    alpha[space.edge_index(src, dst), space.ops.index(op)] = value


def test_darts_derivation_top2_by_max_non_none_weight():
    space = create_space("darts")
    a = torch.zeros(space.alpha_shape)
    # node 2: edge 1->2 strong sep_conv_5x5; edge 0->2 strongest op is 'none' (ignored) but has a middling skip
    _set(a, space, 1, 2, "sep_conv_5x5", 3.0)
    _set(a, space, 0, 2, "none", 9.0)
    _set(a, space, 0, 2, "skip_connect", 2.0)
    # node 3: edges from 2 and 0 win over 1
    _set(a, space, 2, 3, "dil_conv_3x3", 4.0)
    _set(a, space, 0, 3, "max_pool_3x3", 3.0)
    _set(a, space, 1, 3, "avg_pool_3x3", 1.0)
    # node 4: from 3 and 1; node 5: from 4 and 0
    _set(a, space, 3, 4, "sep_conv_3x3", 2.0)
    _set(a, space, 1, 4, "skip_connect", 2.5)
    _set(a, space, 4, 5, "dil_conv_5x5", 2.0)
    _set(a, space, 0, 5, "sep_conv_3x3", 1.5)
    g = space.derive({"normal": a, "reduce": a.clone()})
    # 'none' dominates edge 0->2 so that edge's *non-none* strength is small: within node 2 it still ranks top-2
    # because node 2 has only two in-edges.
    assert g.normal == (("skip_connect", 0), ("sep_conv_5x5", 1),
                        ("max_pool_3x3", 0), ("dil_conv_3x3", 2),
                        ("skip_connect", 1), ("sep_conv_3x3", 3),
                        ("sep_conv_3x3", 0), ("dil_conv_5x5", 4))
    assert g.reduce == g.normal and g.normal_concat == (2, 3, 4, 5)


def test_darts_none_weight_lowers_edge_strength():
    space = create_space("darts")
    a = torch.zeros(space.alpha_shape)
    # node 3 in-edges 0,1,2 each with a conv at logit 2; edge 0->3 also has a dominant none -> its conv prob is lower
    for src in range(3):
        _set(a, space, src, 3, "sep_conv_3x3", 2.0)
    _set(a, space, 0, 3, "none", 5.0)
    g = space.derive({"normal": a, "reduce": a})
    assert [src for _, src in g.normal[2:4]] == [1, 2]


def test_nb201_derivation_keeps_argmax_including_none():
    space = create_space("nb201")
    a = torch.zeros(space.alpha_shape)
    choice = {(0, 1): "nor_conv_3x3", (0, 2): "nor_conv_1x1", (1, 2): "none", (0, 3): "skip_connect",
              (1, 3): "avg_pool_3x3", (2, 3): "nor_conv_3x3"}
    for (s, d), op in choice.items():
        _set(a, space, s, d, op, 1.0)
    g = space.derive({"cell": a})
    assert g.to_arch_str() == "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def test_derive_returns_valid_genotype_for_random_alphas():
    space = create_space("darts")
    for seed in range(20):
        g = space.derive(space.init_alphas(torch.Generator().manual_seed(seed), scale=1.0))
        assert isinstance(g, Genotype)
        for cell in space.cell_types:
            dsts = [d for _, d, _ in g.edges(cell)]
            assert dsts == [2, 2, 3, 3, 4, 4, 5, 5]
            assert all(op != "none" for _, _, op in g.edges(cell))
