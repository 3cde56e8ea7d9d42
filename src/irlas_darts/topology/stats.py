"""Plain counts of a discrete cell that the report quotes: how many skips, how deep the conv chains run.

These are exact graph statistics of a genotype, not the soft features: a reader can check them on the drawing.
"""

from __future__ import annotations

from typing import Any

from ..spaces import AnyGenotype, SearchSpace


def cell_statistics(space: SearchSpace, genotype: AnyGenotype, cell: str | None = None) -> dict[str, Any]:
    """Counts of kept ops by class, and ``conv_depth``: the most conv edges on one path from a cell input to the output.

    A node no path from an input reaches (NB201 ``none`` edges) does not count; a cell whose output nothing reaches has
    depth 0 and ``connected = False``.
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
    return {
        "skip_connect": classes.count("skip"),
        "conv": classes.count("conv"),
        "pool": classes.count("pool"),
        "edges": len(kept),
        "conv_depth": max(outs) if outs else 0,
        "connected": bool(outs),
    }


def genotype_statistics(space: SearchSpace, genotype: AnyGenotype) -> dict[str, dict[str, Any]]:
    """``cell_statistics`` for every cell type of the genotype."""
    return {cell: cell_statistics(space, genotype, cell) for cell in genotype.cell_types}
