"""Pictures: cell drawings, alpha heatmaps and the comparison report's plots (matplotlib Agg, no pyplot state)."""

from .benchmark_curve import plot_benchmark_curve
from .cell import DrawnCell, draw_cell, draw_cell_on, draw_genotype, save_figure
from .plots import alpha_heatmap, plot_accuracy_vs_latency, plot_cells_grid, plot_curves

__all__ = [
    "DrawnCell", "alpha_heatmap", "draw_cell", "draw_cell_on", "draw_genotype", "plot_accuracy_vs_latency", "plot_benchmark_curve",
    "plot_cells_grid", "plot_curves", "save_figure",
]
