"""Architecture parameters (alphas), kept apart from the network's weights.

They are their own module so that they get their own optimizer, their own checkpoint entry and, under data
parallelism, their own all-reduce; the supernet only ever sees ``probs()``. What ``probs()`` is, and what the
genotype and the topology prior read, is the search algorithm's choice (``search/algorithms``: DARTS' softmax,
PC-DARTS' edge-normalised softmax, GDAS' hard Gumbel sample, DrNAS' Dirichlet sample); ``darts`` is the default.

``alphas`` holds every architecture parameter by name: one ``(n_edges, n_ops)`` tensor per cell type, plus what the
algorithm adds beside them (PC-DARTS: ``<cell>_edges``, one weight per edge). Holding them in the one dict gives the
additions the alphas' optimizer, checkpoint entry and all-reduce; ``as_dict()`` is the cell types' alphas only.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spaces import Alphas, AnyGenotype, SearchSpace
from .algorithms import Algorithm, create_algorithm


class Architecture(nn.Module):
    def __init__(self, space: SearchSpace, generator: torch.Generator | None = None, scale: float = 1e-3,
                 algorithm: Algorithm | None = None) -> None:
        super().__init__()
        self.space = space
        init = space.init_alphas(generator=generator, scale=scale)
        self.alphas = nn.ParameterDict({cell: nn.Parameter(a) for cell, a in init.items()})
        self.algorithm = algorithm if algorithm is not None else create_algorithm("darts", space)
        for name, value in self.algorithm.extra_parameters(generator).items():  # after the alphas: same draws
            self.alphas[name] = nn.Parameter(value)

    def as_dict(self) -> Alphas:
        """The cell types' alphas (the live parameters), without the algorithm's additions."""
        return {cell: self.alphas[cell] for cell in self.space.cell_types}

    def parameters_dict(self) -> dict[str, torch.Tensor]:
        """Every architecture parameter by name: the alphas and the algorithm's additions."""
        return dict(self.alphas.items())

    def probs(self) -> Alphas:
        """The op weights the supernet runs with during search (a fresh sample for stochastic algorithms)."""
        return self.algorithm.forward_probs(self.parameters_dict())

    def derivation_probs(self) -> Alphas:
        """Per edge and op, the weight the genotype is derived from (DARTS: softmax; may not sum to 1 per edge)."""
        return self.algorithm.derivation_probs(self.parameters_dict())

    def derivation_logits(self) -> Alphas:
        """Logits whose softmax the space's rule and the soft adjacency read exactly as ``derivation_probs``.

        What the genotype is derived from and what the topology prior reads; ``darts``: the alphas themselves.
        """
        return self.algorithm.derivation_logits(self.parameters_dict())

    def extra_loss(self) -> torch.Tensor | None:
        """The algorithm's own architecture-loss term (DrNAS' KL, beta-decay), or None."""
        return self.algorithm.arch_loss(self.parameters_dict())

    def start_epoch(self, epoch: int, epochs: int) -> None:
        """Per-epoch schedules (GDAS' temperature, beta-decay's weight); ``epoch`` counts from 0."""
        self.algorithm.start_epoch(epoch, epochs)

    def genotype(self) -> AnyGenotype:
        return self.space.derive({cell: a.detach().cpu() for cell, a in self.derivation_logits().items()})

    def all_finite(self) -> bool:
        return all(bool(torch.isfinite(a).all()) for a in self.alphas.values())
