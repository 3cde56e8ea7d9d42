"""Report plots: alpha heatmaps, accuracy vs latency, per-epoch curves over seeds, and grids of drawn cells.

Inputs are plain Python data (lists, dicts, arrays) so the report can feed them without pandas; every function writes
one PNG atomically and returns its path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..spaces import AnyGenotype, SearchSpace, create_space
from .cell import INCH_PER_UNIT, draw_cell_on, legend_handles, new_figure, plan_cell, save_figure

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")


def _as_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, possibly a Parameter on a device
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _group_colors(groups: Sequence[str]) -> dict[str, int]:
    """Colour index by first appearance, so one regularizer keeps its colour across the report's plots."""
    order: dict[str, int] = {}
    for g in groups:
        order.setdefault(g, len(order))
    return order


def alpha_heatmap(alphas: Mapping[str, Any], space: SearchSpace | str, path: str | Path, *,
                  title: str | None = None) -> Path:
    """Softmax of the alpha logits, edge rows ("i->j") x op columns, one annotated panel per cell type."""
    space = create_space(space) if isinstance(space, str) else space
    probs = {}
    for cell in space.cell_types:
        if cell not in alphas:
            raise ValueError(f"alphas: missing cell {cell!r}; pass one (n_edges, n_ops) logit matrix per cell type "
                             f"{list(space.cell_types)}")
        a = _as_array(alphas[cell])
        if a.shape != space.alpha_shape:
            raise ValueError(f"alphas[{cell!r}]: shape {a.shape}, expected {space.alpha_shape} "
                             f"for the {space.name} space")
        probs[cell] = _softmax(a)
    vmax = max(float(p.max()) for p in probs.values())
    n_rows, n_cols = space.alpha_shape
    cw, rh = 0.62, 0.3
    fig = new_figure(len(probs) * (n_cols * cw + 1.9) + 0.6, n_rows * rh + 1.9)
    axes = fig.subplots(1, len(probs), squeeze=False)[0]
    rows = [f"{i}->{j}" for i, j in space.edges]
    for ax, (cell, p) in zip(axes, probs.items()):
        im = ax.imshow(p, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto")
        ax.set_xticks(range(n_cols), space.ops, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n_rows), rows, fontsize=8)
        ax.set_ylabel("edge (from->to)", fontsize=9)
        ax.set_title(cell, fontsize=11)
        best = p.argmax(axis=1)
        for r in range(n_rows):
            for c in range(n_cols):
                light = p[r, c] < 0.6 * vmax
                ax.text(c, r, f"{p[r, c]:.2f}", ha="center", va="center", fontsize=6.5,
                        color="white" if light else "black", fontweight="bold" if c == best[r] else "normal")
        fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).ax.tick_params(labelsize=7)
    fig.suptitle(title or "architecture weights softmax(alpha)", fontsize=12)
    fw, fh = fig.get_size_inches()
    fig.subplots_adjust(left=0.8 / fw, right=1 - 0.15 / fw, bottom=1.15 / fh, top=1 - 0.75 / fh, wspace=0.3)
    return save_figure(fig, path)


def _frame(ax, xlabel: str, ylabel: str, title: str | None) -> None:
    """Axis labels, a light grid and the optional title, alike on every report plot."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)


def plot_accuracy_vs_latency(points: Sequence[Mapping[str, Any]], path: str | Path, *, xlabel: str = "latency (ms)",
                             ylabel: str = "accuracy (%)", title: str | None = None,
                             annotate: bool | None = None) -> Path:
    """One marker per run, coloured by group (regularizer); labels annotated while they stay few enough to read."""
    for k, p in enumerate(points):
        missing = {"label", "group", "latency_ms", "acc"} - set(p)
        if missing:
            raise ValueError(f"points[{k}]: missing keys {sorted(missing)}; "
                             "each point needs label, group, latency_ms, acc")
    fig = new_figure(6.4, 4.6)
    ax = fig.add_subplot()
    colors = _group_colors([p["group"] for p in points])
    annotate = len(points) <= 30 if annotate is None else annotate
    for group, idx in colors.items():
        mine = [p for p in points if p["group"] == group]
        ax.scatter([float(p["latency_ms"]) for p in mine], [float(p["acc"]) for p in mine], s=46,
                   color=PALETTE[idx % len(PALETTE)], marker=MARKERS[idx % len(MARKERS)], label=str(group),
                   edgecolor="black", linewidth=0.5, zorder=3)
        if annotate:
            for p in mine:
                ax.annotate(str(p["label"]), (float(p["latency_ms"]), float(p["acc"])), xytext=(4, 4),
                            textcoords="offset points", fontsize=7, color="#333333")
    ax.margins(0.1)  # room for the point labels
    _frame(ax, xlabel, ylabel, title)
    if colors:
        ax.legend(title="group", fontsize=8, title_fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray")
    fig.tight_layout()
    return save_figure(fig, path)


def _mean_curve(runs: Sequence[Sequence[float]]) -> np.ndarray:
    """Mean per epoch over the seeds that reached it (runs may stop at different epochs)."""
    n = max(len(r) for r in runs)
    grid = np.full((len(runs), n), np.nan)
    for k, r in enumerate(runs):
        grid[k, : len(r)] = np.asarray(r, dtype=float)
    return np.nanmean(grid, axis=0)


def plot_curves(curves: Mapping[str, Sequence[Sequence[float]]], path: str | Path, *, ylabel: str,
                xlabel: str = "epoch", title: str | None = None, start: int = 0) -> Path:
    """Per group one thin line per seed and a bold mean line; x runs from ``start`` (first logged epoch)."""
    fig = new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    colors = _group_colors(list(curves))
    drawn = False
    for group, runs in curves.items():
        runs = [r for r in runs if len(r)]
        if not runs:
            continue
        color = PALETTE[colors[group] % len(PALETTE)]
        for r in runs:
            ax.plot(np.arange(start, start + len(r)), np.asarray(r, float), color=color, lw=0.8, alpha=0.35)
        mean = _mean_curve(runs)
        ax.plot(np.arange(start, start + len(mean)), mean, color=color, lw=2.4,
                label=f"{group} (mean of {len(runs)})")
        drawn = True
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _frame(ax, xlabel, ylabel, title)
    if drawn:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_cells_grid(genotypes: Sequence[tuple[str, AnyGenotype]], cell: str, path: str | Path, *,
                    ncols: int | None = None) -> Path:
    """Several genotypes' ``cell`` side by side, each titled, with one shared colour legend."""
    if not genotypes:
        raise ValueError("genotypes: empty; pass at least one (title, genotype) pair")
    plans = [plan_cell(g, cell) for _, g in genotypes]
    w = max(p.size[0] for p in plans) * INCH_PER_UNIT
    h = max(p.size[1] for p in plans) * INCH_PER_UNIT + 0.45  # room for each title
    if ncols is None:  # the column count whose whole figure is closest to a 16:10 page
        n = len(genotypes)
        ncols = min(range(1, min(n, 4) + 1), key=lambda c: abs(math.log(c * w / (math.ceil(n / c) * h) / 1.6)))
    nrows = math.ceil(len(genotypes) / ncols)
    legend_h = 0.6
    fig = new_figure(ncols * w, nrows * h + legend_h)
    fig_h = fig.get_figheight()
    classes: set[str] = set()
    for k, (name, g) in enumerate(genotypes):
        r, c = divmod(k, ncols)
        bottom = legend_h + (nrows - 1 - r) * h
        ax = fig.add_axes((c / ncols, bottom / fig_h, 1 / ncols, (h - 0.45) / fig_h))
        classes |= draw_cell_on(ax, g, cell, title=name, legend=False).classes
    handles = legend_handles(classes)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9)
    return save_figure(fig, path)
