"""Skip counts and conv depth of discrete cells, on cells whose answer can be read off by hand."""

from irlas_darts.spaces import create_space, published_genotype
from irlas_darts.topology import cell_statistics, collapse_threshold, genotype_statistics


def test_nb201_cells():
    space = create_space("nb201")
    resnext = space.genotype_from_text("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert cell_statistics(space, resnext) == {
        "param_free": 1, "collapsed": False, "skip_connect": 1, "conv": 4, "pool": 0, "edges": 5, "conv_depth": 2,
        "connected": True, "shortcut": True}
    chain = space.genotype_from_text("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert cell_statistics(space, chain)["conv_depth"] == 3
    # a path through a skip and a pool still counts only its convs
    mixed = space.genotype_from_text("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_3x3~2|")
    stats = cell_statistics(space, mixed)
    assert (stats["conv_depth"], stats["skip_connect"], stats["pool"]) == (1, 1, 1)
    dead = space.genotype_from_text("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert cell_statistics(space, dead) == {
        "param_free": 0, "collapsed": True, "skip_connect": 0, "conv": 2, "pool": 0, "edges": 2, "conv_depth": 0,
        "connected": False, "shortcut": False}  # no conv reaches the output: as useless as the all-skip cell


def test_identity_shortcut_beside_a_conv_path():
    """x + F(x): a skip from the cell input into a node that another kept edge reaches through a conv."""
    space = create_space("nb201")

    def shortcut(text: str) -> bool:
        return cell_statistics(space, space.genotype_from_text(text))["shortcut"]

    assert shortcut("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    # ResNet: node3 = skip(0) + skip(node2), node2 = conv(conv(0)): the conv path reaches node 3 through a skip
    assert shortcut("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    assert not shortcut("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    # a skip beside pools only, or a skip from an intermediate node, is no shortcut
    assert not shortcut("|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    assert not shortcut("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|")
    darts = create_space("darts")
    v2 = genotype_statistics(darts, published_genotype("DARTS_V2"))  # node4 = sep(1) + skip(0)
    assert v2["normal"]["shortcut"]


def test_darts_published_genotype():
    """DARTS_V2 normal: node2 = sep(0)+sep(1), node3 = sep(0)+sep(1), node4 = sep(1)+skip(0), node5 = skip(0)+dil(node2):
    longest conv chain c -> node2 -> node5 has two convs. Reduce: pools and skips only."""
    space = create_space("darts")
    stats = genotype_statistics(space, published_genotype("DARTS_V2"))
    assert stats["normal"]["skip_connect"] == 2 and stats["normal"]["conv"] == 6
    assert stats["normal"]["conv_depth"] == 2
    assert stats["reduce"]["conv"] == 0 and stats["reduce"]["conv_depth"] == 0
    assert stats["reduce"]["skip_connect"] == 3 and stats["reduce"]["pool"] == 5


def test_collapse_measure():
    """DARTS: 5 or more of the normal cell's 8 edges parameter-free; NAS-Bench-201: 4 of 6, or no conv on any path."""
    darts, nb201 = create_space("darts"), create_space("nb201")
    assert (collapse_threshold(darts), collapse_threshold(nb201)) == (5, 4)
    v2 = genotype_statistics(darts, published_genotype("DARTS_V2"))
    assert v2["normal"]["param_free"] == 2 and not v2["normal"]["collapsed"]
    assert v2["reduce"]["param_free"] == 8 and not v2["reduce"]["collapsed"]  # reduction cells are meant to pool
    ops = ["skip_connect"] * 5 + ["sep_conv_3x3"] * 3
    text = "Genotype(normal=[" + ", ".join(f"('{op}', {i % 2})" for i, op in enumerate(ops)) + "], normal_concat=[2, 3, 4, 5], " \
        "reduce=[" + ", ".join(f"('max_pool_3x3', {i % 2})" for i in range(8)) + "], reduce_concat=[2, 3, 4, 5])"
    five = cell_statistics(darts, darts.genotype_from_text(text), "normal")
    assert five["param_free"] == 5 and five["collapsed"]
    all_skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    three = "|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert cell_statistics(nb201, nb201.genotype_from_text(all_skip))["collapsed"]
    stats = cell_statistics(nb201, nb201.genotype_from_text(three))
    assert stats["param_free"] == 3 and not stats["collapsed"]
