"""Evaluation: networks built from genotypes, training from scratch, cost measures, NAS-Bench-201 lookup."""

from .benchmark import BenchmarkError, BenchmarkTable, load_table, lookup_arch, normalize_arch
from .build import build_network, register_network
from .darts_networks import AuxiliaryHead, DartsCell, NetworkCIFAR, NetworkImageNet
from .measure import count_flops, count_params, measure_latency
from .nb201_network import NB201Cell, NB201Network
from .train import EvalSettings, Trainer, augmentation

__all__ = [
    "AuxiliaryHead", "BenchmarkError", "BenchmarkTable", "DartsCell", "EvalSettings", "NB201Cell", "NB201Network",
    "NetworkCIFAR", "NetworkImageNet", "Trainer", "augmentation", "build_network", "count_flops", "count_params",
    "load_table", "lookup_arch", "measure_latency", "normalize_arch", "register_network",
]
