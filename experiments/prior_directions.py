"""Where does the prior put identity edges? The first-order change of every edge's soft skip mass along the prior's
descent direction, from an all-convolution cell, and the cell that descending the prior alone (no data) ends at.

    python experiments/prior_directions.py                       # both spaces, both shipped experts, irl + imitation
    python experiments/prior_directions.py --spaces nb201 --experts resnext --seeds 0-4

Each row: space, expert, regularizer, seed; then per edge (src->dst, in the space's alpha-row order) the change of
``A^skip`` (typed soft adjacency, tau of the shipped config) along ``-grad loss`` at a cell whose every edge leans
to a 3x3 conv (logit +0.3, noise 0.1), w^(0) measured at DARTS' initial alphas; then the genotype after 300 Adam steps
on the prior alone (IRL step every 30) and whether it has the expert's identity shortcut.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml

from irlas_darts.regularizers import create_regularizer
from irlas_darts.spaces import create_space
from irlas_darts.topology import CLASSES, cell_statistics, expert_cells, soft_adjacency

ROOT = Path(__file__).resolve().parents[1]
CONV = {"nb201": "nor_conv_3x3", "darts": "sep_conv_3x3"}
LEAN, NOISE = 0.3, 0.1  # every edge's 3x3 conv logit ahead by 0.3 (3 tau): an all-conv cell of a search under way


def parse_seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def run(space_name: str, expert: str, name: str, seed: int) -> tuple[list[float], str, bool]:
    space = create_space(space_name)
    cells = expert_cells(space, yaml.safe_load((ROOT / "conf" / "expert" / f"{expert}.yaml").read_text())[space_name])
    reg = create_regularizer(name, space, expert=cells, lam=1.0)
    gen = torch.Generator().manual_seed(100 + seed)
    reg.start({c: 1e-3 * torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64) for c in space.cell_types})
    alpha = NOISE * torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64)
    alpha[:, space.ops.index(CONV[space_name])] += LEAN
    alphas = {c: torch.nn.Parameter(alpha.clone()) for c in space.cell_types}
    cell = space.cell_types[0]

    g_loss, = torch.autograd.grad(reg.loss(alphas), alphas[cell])
    x = alpha.clone().requires_grad_()
    skip = soft_adjacency(space, x, reg.tau).typed[:, CLASSES.index("skip")]
    change = [float(torch.autograd.grad(m, x, retain_graph=True)[0].flatten() @ -g_loss.flatten()) for m in skip]

    opt = torch.optim.Adam(alphas.values(), lr=0.02, betas=(0.5, 0.999))
    for epoch in range(10):
        for _ in range(30):
            opt.zero_grad()
            reg.loss(alphas).backward()
            opt.step()
        genotype = space.derive({c: a.detach() for c, a in alphas.items()})
        reg.update(epoch, alphas, genotype)
    stats = cell_statistics(space, genotype, cell)
    text = genotype.to_text() if space_name == "nb201" else str([e for e in genotype.edges(cell)])
    return change, text, bool(stats.get("shortcut", False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spaces", default="nb201,darts")
    ap.add_argument("--experts", default="resnext,resnet")
    ap.add_argument("--regularizers", default="irl,imitation")
    ap.add_argument("--seeds", default="0-2")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for space_name in args.spaces.split(","):
        edges = " ".join(f"{i}->{j}" for i, j in create_space(space_name).edges)
        print(f"\n## {space_name}: change of each edge's soft skip mass ({edges}), then the prior-alone cell")
        for expert in args.experts.split(","):
            for name in args.regularizers.split(","):
                for seed in parse_seeds(args.seeds):
                    change, text, shortcut = run(space_name, expert, name, seed)
                    print(f"{expert:8s} {name:10s} seed {seed}: " + " ".join(f"{v:+.1e}" for v in change))
                    print(f"{'':30s}-> {text}  shortcut={shortcut}")


if __name__ == "__main__":
    main()
