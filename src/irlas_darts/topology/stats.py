"""Plain counts of a discrete cell that the report quotes: how many skips, how deep the conv chains run.

These are exact graph statistics of a genotype, not the soft features: a reader can check them on the drawing.
"""

from __future__ import annotations

import math
from typing import Any

from ..spaces import AnyGenotype, SearchSpace

COLLAPSE_SHARE = 5 / 8  # DARTS' normal cell keeps 8 edges; 5 or more of them parameter-free is the skip collapse


def edge_slots(space: SearchSpace) -> int:
    """Edges a derived cell can keep: DARTS 8 (top-k per node), NAS-Bench-201 6 (every edge)."""
    k = getattr(space, "k", None)
    return space.n_nodes * k if k else len(space.edges)


def collapse_threshold(space: SearchSpace) -> int:
    """Parameter-free edges from which a cell counts as collapsed: DARTS 5 of 8, NAS-Bench-201 4 of 6."""
    return math.ceil(COLLAPSE_SHARE * edge_slots(space))


def cell_statistics(space: SearchSpace, genotype: AnyGenotype, cell: str | None = None) -> dict[str, Any]:
    """Counts of kept ops by class, and ``conv_depth``: the most conv edges on one path from a cell input to the output.

    ``shortcut``: the cell carries an identity shortcut beside a conv path (a skip from a cell input into a node that
    also receives a kept edge through at least one conv), the topology the experts are chosen for.

    A node no path from an input reaches (NB201 ``none`` edges) does not count; a cell whose output nothing reaches has
    depth 0 and ``connected = False``. ``param_free`` counts kept skip and pool edges; the cell has ``collapsed`` when
    they reach ``collapse_threshold`` or no conv lies on any path to the output (never judged for a reduction cell).
    """
    cell = cell or genotype.cell_types[0]
    kept = [(i, j, op) for i, j, op in genotype.edges(cell) if op != "none"]
    classes = [space.op_class(op) for _, _, op in kept]
    depth: dict[int, int] = {i: 0 for i in range(space.n_inputs)}  # nodes reached from an input
    for node in space.nodes:
        reach = [depth[i] + (space.op_class(op) == "conv") for i, j, op in kept if j == node and i in depth]
        if reach:
            depth[node] = max(reach)
    # the output reads genotype.concat: DARTS concatenates nodes 2..5, in NB201 the last node is the output
    outs = [depth[n] for n in genotype.concat(cell) if n in depth]
    param_free = classes.count("skip") + classes.count("pool")
    conv_depth = max(outs) if outs else 0
    # an identity shortcut beside a conv path: a skip from a cell input into a node that another kept in-edge reaches
    # through at least one conv (ResNet / ResNeXt's signature: x + F(x))
    shortcut = any(
        space.op_class(op) == "skip" and i < space.n_inputs and any(
            (src, dst) != (i, j) and src in depth and depth[src] + (space.op_class(o) == "conv") >= 1
            for src, dst, o in kept if dst == j)
        for i, j, op in kept)
    judged = cell != "reduce"  # a reduction cell is meant to pool: published DARTS reduce cells are mostly max_pool
    return {
        "param_free": param_free,
        "collapsed": judged and (param_free >= collapse_threshold(space) or conv_depth == 0),
        "skip_connect": classes.count("skip"),
        "conv": classes.count("conv"),
        "pool": classes.count("pool"),
        "edges": len(kept),
        "conv_depth": conv_depth,
        "connected": bool(outs),
        "shortcut": shortcut,
    }


def genotype_statistics(space: SearchSpace, genotype: AnyGenotype) -> dict[str, dict[str, Any]]:
    """``cell_statistics`` for every cell type of the genotype."""
    return {cell: cell_statistics(space, genotype, cell) for cell in genotype.cell_types}
