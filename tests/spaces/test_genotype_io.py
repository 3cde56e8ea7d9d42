import json
from importlib import resources

import pytest
import torch

from irlas_darts.spaces import (
    PUBLISHED_GENOTYPES, Genotype, GenotypeError, NB201Genotype, create_space, genotype_from_json, genotype_from_text,
    published_genotype,
)
from irlas_darts.spaces.published import published_facts

# The reference is the package's own resource, so the check runs on any clone (and in an installed package).
REFERENCE = resources.files("irlas_darts.resources").joinpath("published_genotypes.json")


@pytest.mark.parametrize("name", PUBLISHED_GENOTYPES)
def test_published_genotypes_parse_and_match_reference(name):
    g = published_genotype(name)
    assert len(g.normal) == len(g.reduce) == 8
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
    assert published_facts(name)["published_params_millions"] > 3
    ref = json.loads(REFERENCE.read_text())["genotypes"][name]
    assert [list(p) for p in g.normal] == ref["normal"]
    assert [list(p) for p in g.reduce] == ref["reduce"]


def test_darts_v2_is_the_released_cell():
    # quark0/darts genotypes.py, DARTS_V2: pins the resource's content, not only its parsing.
    g = published_genotype("DARTS_V2")
    assert g.normal == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                        ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2))
    assert g.reduce == (("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                        ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1))


@pytest.mark.parametrize("name", PUBLISHED_GENOTYPES)
def test_darts_json_and_text_round_trip(name):
    g = published_genotype(name)
    assert Genotype.from_json(json.loads(json.dumps(g.to_json()))) == g
    assert Genotype.from_text(g.to_text()) == g
    assert genotype_from_text(str(g)) == g
    assert genotype_from_json(g.to_json()) == g


def test_darts_text_is_the_original_form():
    g = published_genotype("DARTS_V2")
    text = g.to_text()
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")
    assert "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0)" in text
    # The original code reads it with eval() into its namedtuple: our parser accepts the same text.
    assert Genotype.from_text(text.replace("Genotype(", "Genotype( ")) == g


def test_nb201_arch_string_round_trip():
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    g = NB201Genotype.from_arch_str(arch)
    assert g.to_arch_str() == arch
    assert g.edges() == [(0, 1, "nor_conv_3x3"), (0, 2, "nor_conv_3x3"), (1, 2, "none"), (0, 3, "skip_connect"),
                         (1, 3, "nor_conv_3x3"), (2, 3, "nor_conv_3x3")]
    assert NB201Genotype.from_json(json.loads(json.dumps(g.to_json()))) == g
    assert genotype_from_json({"arch_str": arch}) == g
    assert genotype_from_text(arch) == g


@pytest.mark.parametrize("bad", ["Genotype(normal=[('x', 5)], normal_concat=[2], reduce=[], reduce_concat=[])",
                                 "Genotype(normal=[])", "genotype", "Genotype(normal=__import__('os'))"])
def test_bad_darts_text_raises(bad):
    with pytest.raises((GenotypeError, ValueError)):
        Genotype.from_text(bad)


@pytest.mark.parametrize("bad", ["|nor_conv_3x3~1|", "nor_conv_3x3~0", "|a~0|+|b~0|", ""])
def test_bad_arch_string_raises(bad):
    with pytest.raises(GenotypeError):
        NB201Genotype.from_arch_str(bad)


@pytest.mark.parametrize("space_name", ["darts", "nb201"])
def test_one_hot_rows_mark_kept_edges(space_name):
    space = create_space(space_name)
    g = space.derive(space.init_alphas(torch.Generator().manual_seed(0), scale=1.0))
    oh = space.one_hot(g)
    for cell in space.cell_types:
        kept = [(s, d) for s, d, op in g.edges(cell) if op != "none"]
        assert oh[cell].sum().item() == len(kept)
        for s, d, op in g.edges(cell):
            row = oh[cell][space.edge_index(s, d)]
            assert row.sum().item() == (op != "none")
            if op != "none":
                assert space.ops[int(row.argmax())] == op
