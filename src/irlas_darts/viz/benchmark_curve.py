"""The collapse curve of a NAS-Bench-201 search: the derived cell's benchmark accuracy per epoch, with references.

NAS-Bench-201 papers show DARTS' collapse this way: the accuracy of the cell the search would return, epoch by
epoch, falling while the supernet's own accuracy rises. Horizontal lines mark what the benchmark allows (the best
cell) and what the prior aims at (the expert's cells), so a curve is read against both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from .cell import new_figure, save_figure

REFERENCE_STYLES = (("#2ca02c", "--"), ("#ff7f0e", ":"), ("#9467bd", "-."), ("#8c564b", (0, (5, 2, 1, 2))))


def plot_benchmark_curve(epochs: Sequence[int], accuracies: Sequence[float], path: str | Path, *,
                         references: Mapping[str, float] | None = None, ylabel: str = "benchmark accuracy (%)",
                         title: str | None = None) -> Path:
    """One line (the derived cell per epoch) and a dashed horizontal line per reference (label -> value)."""
    if len(epochs) != len(accuracies):
        raise ValueError(f"epochs ({len(epochs)}) and accuracies ({len(accuracies)}) differ in length; "
                         "give one accuracy per epoch")
    fig = new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    x, y = np.asarray(epochs, dtype=float), np.asarray(accuracies, dtype=float)
    if len(x):
        ax.plot(x, y, color="#1f77b4", lw=2.0, marker="o", ms=4, label="derived cell", zorder=3)
    for k, (label, value) in enumerate((references or {}).items()):
        color, style = REFERENCE_STYLES[k % len(REFERENCE_STYLES)]
        ax.axhline(float(value), color=color, ls=style, lw=1.4, label=f"{label} ({float(value):.2f})")
    if not len(x):
        ax.text(0.5, 0.5, "no epochs", transform=ax.transAxes, ha="center", va="center", color="gray")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_title(title or "the derived cell on the benchmark, per epoch")
    if len(x) or references:
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, path)
