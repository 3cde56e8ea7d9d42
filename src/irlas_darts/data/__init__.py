"""Datasets as tensors on one device, batched tensor augmentation, the weight/architecture split, batch iterators."""

from . import cifar, digits, idx, synthetic  # noqa: F401  (register the datasets)
from .augment import AugmentSpec, cutout, hflip, random_crop, random_hflip
from .datasets import Dataset, available_datasets, load_dataset, register_dataset
from .errors import DatasetError
from .idx import read_idx
from .loader import BatchIterator, rank_slice
from .split import split_train

__all__ = [
    "AugmentSpec", "BatchIterator", "Dataset", "DatasetError", "available_datasets", "cutout", "hflip",
    "load_dataset", "random_crop", "random_hflip", "rank_slice", "read_idx", "register_dataset", "split_train",
]
