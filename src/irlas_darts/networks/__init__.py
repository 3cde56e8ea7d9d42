"""Network skeletons: the DARTS and NAS-Bench-201 macro networks, each written once and given the cell to place.

The supernets (``search``) place mixed-op cells, the evaluation networks (``evaluation``) genotype cells.
"""

from .darts import N_INPUTS, AuxiliaryHead, CellFactory, CellSlot, DartsCellBase, DartsSkeleton, reduction_cells
from .nb201 import NB201Skeleton

__all__ = [
    "N_INPUTS", "AuxiliaryHead", "CellFactory", "CellSlot", "DartsCellBase", "DartsSkeleton", "NB201Skeleton",
    "reduction_cells",
]
