"""The topology prior: soft adjacency, features phi / mu, expert cells, the IRL projection step, cell statistics."""

from .experts import expert_cells, expert_feature_expectation, expert_features, expert_texts
from .features import (
    POSITIONS, cell_feature_expectation, covered_cells, feature_expectation, feature_names, genotype_feature_expectation,
    node_feature_names, node_features, soft_feature_expectation, typed_in_degree,
)
from .irl import MirrorStimuli
from .soft_adjacency import CLASSES, CellAdjacency, class_matrix, hard_adjacency, soft_adjacency
from .stats import cell_statistics, collapse_threshold, edge_slots, genotype_statistics

__all__ = [
    "CLASSES", "POSITIONS", "CellAdjacency", "MirrorStimuli", "cell_feature_expectation", "cell_statistics", "class_matrix", "collapse_threshold",
    "covered_cells", "edge_slots", "expert_cells", "expert_feature_expectation", "expert_features",
    "expert_texts", "feature_expectation",
    "feature_names", "genotype_feature_expectation", "genotype_statistics", "hard_adjacency", "node_feature_names",
    "node_features", "soft_adjacency", "soft_feature_expectation", "typed_in_degree",
]
