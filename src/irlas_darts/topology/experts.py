"""Expert demonstrations (SPEC §4.3): human-designed cells in a space's vocabulary, and their mean features mu_E.

The cells themselves live in config (``conf/expert/<name>.yaml``, one list of genotype texts per space), so that a
new expert is a new file, not new code.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch

from ..spaces import AnyGenotype, SearchSpace
from .features import genotype_feature_expectation


def expert_cells(space: SearchSpace, texts: Iterable[str | AnyGenotype]) -> list[AnyGenotype]:
    """Parse expert cells written in ``space``'s text format (genotypes pass through unchanged)."""
    cells = []
    for k, text in enumerate(texts):
        if not isinstance(text, str):
            if getattr(text, "space", None) != space.name:
                raise ValueError(f"expert.{space.name}[{k}] is a {getattr(text, 'space', type(text).__name__)} "
                                 f"genotype; give cells of the {space.name} space")
            cells.append(text)
            continue
        try:
            cells.append(space.genotype_from_text(text))
        except (ValueError, SyntaxError) as err:
            raise ValueError(f"expert.{space.name}[{k}] is not a {space.name} cell: {err}") from None
        for cell in cells[-1].cell_types:
            for _, _, op in cells[-1].edges(cell):
                if op not in space.ops:
                    raise ValueError(f"expert.{space.name}[{k}] uses op {op!r}; the {space.name} ops are {list(space.ops)}")
    if not cells:
        raise ValueError(f"expert.{space.name} is empty; list at least one expert cell for the {space.name} space")
    return cells


def expert_texts(expert: Mapping, space: SearchSpace) -> list[str]:
    """The expert config's cell texts for ``space`` (``expert.<space>``), with a one-line error when absent."""
    texts = expert.get(space.name) if hasattr(expert, "get") else None
    if not texts:
        name = expert.get("name", "?") if hasattr(expert, "get") else "?"
        raise ValueError(f"expert {name!r} has no cells for the {space.name} space; add an expert.{space.name} list")
    return list(texts)


def expert_features(
    space: SearchSpace, experts: Iterable[AnyGenotype], cells: str = "normal", gamma: float = 0.9,
    positions: str = "sources",
) -> torch.Tensor:
    """(n_cells, F): every expert cell's feature expectation (float64, CPU). Their mean is mu_E; their entry-wise
    (min, max) is the range on which ``MirrorStimuli``'s mirror reward is flat."""
    mus = [genotype_feature_expectation(space, g, cells, gamma, positions=positions) for g in experts]
    if not mus:
        raise ValueError(f"expert.{space.name} is empty; list at least one expert cell for the {space.name} space")
    return torch.stack(mus)


def expert_feature_expectation(
    space: SearchSpace, experts: Iterable[AnyGenotype], cells: str = "normal", gamma: float = 0.9,
    positions: str = "sources",
) -> torch.Tensor:
    """mu_E: the mean feature expectation of the expert cells (float64, CPU)."""
    return expert_features(space, experts, cells, gamma, positions).mean(dim=0)
