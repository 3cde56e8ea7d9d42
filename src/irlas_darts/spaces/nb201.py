"""The NAS-Bench-201 cell space (Dong & Yang, 2020): 4 nodes, 6 edges, 5 ops, one cell type, last node = output."""

from __future__ import annotations

import torch

from .base import Alphas, SearchSpace, register_space
from .genotype import NB201Genotype

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@register_space("nb201")
class NB201Space(SearchSpace):
    ops = NB201_OPS
    cell_types = ("cell",)
    n_inputs = 1
    n_nodes = 3
    conv_ops = frozenset({"nor_conv_1x1", "nor_conv_3x3"})
    pool_ops = frozenset({"avg_pool_3x3"})
    pointwise_ops = frozenset({"nor_conv_1x1"})

    def derive(self, alphas: Alphas) -> NB201Genotype:
        """Every edge keeps its argmax op, ``none`` included (the benchmark's rule)."""
        best = alphas["cell"].detach().argmax(dim=-1).tolist()
        nodes = []
        for j in self.nodes:
            nodes.append(tuple((self.ops[best[self.edge_index(i, j)]], i) for i in range(j)))
        return NB201Genotype(tuple(nodes))

    def one_hot(self, genotype: NB201Genotype) -> Alphas:
        m = torch.zeros(self.alpha_shape)
        for src, dst, op in genotype.edges():
            if op != "none":
                m[self.edge_index(src, dst), self.ops.index(op)] = 1.0
        return {"cell": m}

    def genotype_from_json(self, data: dict) -> NB201Genotype:
        return NB201Genotype.from_json(data)

    def genotype_from_text(self, text: str) -> NB201Genotype:
        return NB201Genotype.from_arch_str(text)
