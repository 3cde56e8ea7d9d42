"""Published DARTS-space genotypes, loaded by name from the package's copy of the reference file."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from .genotype import Genotype


@lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("irlas_darts.resources").joinpath("published_genotypes.json").read_text()
    return json.loads(text)["genotypes"]


PUBLISHED_GENOTYPES = ("DARTS_V1", "DARTS_V2", "PC_DARTS", "PDARTS", "DrNAS")


def published_genotype(name: str) -> Genotype:
    table = _table()
    if name not in table:
        raise KeyError(f"unknown published genotype {name!r}; choose one of {sorted(table)}")
    return Genotype.from_json(table[name])


def published_facts(name: str) -> dict:
    """The paper's figures (params in millions, CIFAR-10 error) recorded beside the genotype."""
    entry = _table()[name]
    return {k: v for k, v in entry.items() if k.startswith("published_")}
