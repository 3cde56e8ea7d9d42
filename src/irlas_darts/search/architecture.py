"""Architecture parameters (alphas), kept apart from the network's weights.

They are their own module so that they get their own optimizer, their own checkpoint entry and, under data
parallelism, their own all-reduce; the supernet only ever sees their softmax.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spaces import Alphas, AnyGenotype, SearchSpace


class Architecture(nn.Module):
    def __init__(self, space: SearchSpace, generator: torch.Generator | None = None, scale: float = 1e-3) -> None:
        super().__init__()
        self.space = space
        init = space.init_alphas(generator=generator, scale=scale)
        self.alphas = nn.ParameterDict({cell: nn.Parameter(a) for cell, a in init.items()})

    def as_dict(self) -> Alphas:
        return dict(self.alphas.items())

    def probs(self) -> Alphas:
        return {cell: torch.softmax(a, dim=-1) for cell, a in self.alphas.items()}

    def genotype(self) -> AnyGenotype:
        return self.space.derive({cell: a.detach().cpu() for cell, a in self.alphas.items()})

    def all_finite(self) -> bool:
        return all(bool(torch.isfinite(a).all()) for a in self.alphas.values())
