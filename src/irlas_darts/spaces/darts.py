"""The DARTS cell space (Liu et al., 2019): 2 inputs, 4 intermediate nodes, 14 edges, 8 ops, normal + reduce."""

from __future__ import annotations

import torch

from .base import Alphas, SearchSpace, register_space
from .genotype import Genotype

DARTS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)


@register_space("darts")
class DartsSpace(SearchSpace):
    ops = DARTS_OPS
    cell_types = ("normal", "reduce")
    n_inputs = 2
    n_nodes = 4
    k = 2  # kept incoming edges per node
    conv_ops = frozenset({"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"})
    pool_ops = frozenset({"max_pool_3x3", "avg_pool_3x3"})

    def derive_cell(self, alpha: torch.Tensor) -> list[tuple[str, int]]:
        """Top-k incoming edges by max non-``none`` softmax weight; argmax non-``none`` op on each."""
        probs = torch.softmax(alpha.detach().double(), dim=-1)
        none = self.ops.index("none")
        keep = [o for o in range(len(self.ops)) if o != none]
        pairs: list[tuple[str, int]] = []
        for j in self.nodes:
            rows = [self.edge_index(i, j) for i in range(j)]
            strength = probs[rows][:, keep].max(dim=1).values
            top = sorted(torch.topk(strength, self.k).indices.tolist())
            for t in top:
                op = keep[int(probs[rows[t]][keep].argmax())]
                pairs.append((self.ops[op], t))
        return pairs

    def derive(self, alphas: Alphas) -> Genotype:
        concat = tuple(self.nodes)
        return Genotype(
            normal=tuple(self.derive_cell(alphas["normal"])),
            normal_concat=concat,
            reduce=tuple(self.derive_cell(alphas["reduce"])),
            reduce_concat=concat,
        )

    def one_hot(self, genotype: Genotype) -> Alphas:
        out = {}
        for cell in self.cell_types:
            m = torch.zeros(self.alpha_shape)
            for src, dst, op in genotype.edges(cell):
                m[self.edge_index(src, dst), self.ops.index(op)] = 1.0
            out[cell] = m
        return out

    def genotype_from_json(self, data: dict) -> Genotype:
        return Genotype.from_json(data)

    def genotype_from_text(self, text: str) -> Genotype:
        return Genotype.from_text(text)
