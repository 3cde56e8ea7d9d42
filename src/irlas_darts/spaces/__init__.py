"""Search spaces: what a cell may be, independent of any network."""

from .base import Alphas, SearchSpace, available_spaces, create_space, register_space
from .darts import DARTS_OPS, DartsSpace
from .genotype import (
    AnyGenotype, Edge, Genotype, GenotypeError, NB201Genotype, genotype_from_json, genotype_from_text,
)
from .nb201 import NB201_OPS, NB201Space
from .published import PUBLISHED_GENOTYPES, published_genotype

__all__ = [
    "Alphas", "AnyGenotype", "DARTS_OPS", "DartsSpace", "Edge", "Genotype", "GenotypeError", "NB201Genotype", "NB201_OPS",
    "NB201Space", "PUBLISHED_GENOTYPES", "SearchSpace", "available_spaces", "create_space", "genotype_from_json",
    "genotype_from_text", "published_genotype", "register_space",
]
