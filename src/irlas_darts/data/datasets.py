"""The ``Dataset`` every loader returns, and the registry that maps names to loaders.

A dataset is held whole as tensors on one device (normalized float32 images, int64 labels): the datasets this project
searches on are small, and keeping them on the accelerator removes the input pipeline from the search loop.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .augment import AugmentSpec

Builder = Callable[..., "Dataset"]  # (root: Path | None, device: torch.device, **opts) -> Dataset

_DATASETS: dict[str, Builder] = {}


@dataclass
class Dataset:
    train_x: torch.Tensor = field(repr=False)  # float32 (N, C, H, W), normalized with mean/std
    train_y: torch.Tensor = field(repr=False)  # int64 (N,)
    test_x: torch.Tensor = field(repr=False)
    test_y: torch.Tensor = field(repr=False)
    num_classes: int
    name: str
    augment: AugmentSpec = AugmentSpec()
    mean: tuple[float, ...] = ()  # per channel, in [0, 1] pixel units, as subtracted
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for part, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dim() != 4 or len(x) != len(y):
                raise ValueError(f"{self.name}: {part} images must be (N, C, H, W) with one label each, "
                                 f"got {tuple(x.shape)} and {tuple(y.shape)}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"{self.name}: train images {tuple(self.train_x.shape[1:])} and test images "
                             f"{tuple(self.test_x.shape[1:])} differ in shape")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def to(self, device: str | torch.device) -> "Dataset":
        move = lambda t: t.to(device)  # noqa: E731
        return Dataset(move(self.train_x), move(self.train_y), move(self.test_x), move(self.test_y),
                       self.num_classes, self.name, self.augment, self.mean, self.std)

    def head(self, max_train: int | None = None, max_test: int | None = None) -> "Dataset":
        """The leading ``max_train`` / ``max_test`` samples (copied, so the full tensors can be freed)."""
        def cut(t: torch.Tensor, k: int | None) -> torch.Tensor:
            if k is None or k >= len(t):
                return t
            if k < 1:
                raise ValueError(f"{self.name}: max_train / max_test must be >= 1, got {k}")
            return t[:k].clone()

        return Dataset(cut(self.train_x, max_train), cut(self.train_y, max_train), cut(self.test_x, max_test),
                       cut(self.test_y, max_test), self.num_classes, self.name, self.augment, self.mean, self.std)


def images_from_uint8(
    pixels: np.ndarray, scale: float, mean: Sequence[float], std: Sequence[float], device: torch.device
) -> torch.Tensor:
    """uint8 (N, C, H, W) -> normalized float32 on ``device``; converts after the move so the host keeps only bytes."""
    pixels = np.ascontiguousarray(pixels)
    if not pixels.flags.writeable:  # idx files are parsed in place from read-only bytes
        pixels = pixels.copy()
    x = torch.from_numpy(pixels).to(device).to(torch.float32).div_(scale)
    m = torch.tensor(mean, dtype=torch.float32, device=device)[None, :, None, None]
    s = torch.tensor(std, dtype=torch.float32, device=device)[None, :, None, None]
    return x.sub_(m).div_(s)


def labels_from_numpy(labels: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.asarray(labels).astype(np.int64)).to(device)


def register_dataset(name: str) -> Callable[[Builder], Builder]:
    """Register ``builder(root: Path | None, device: torch.device, **opts) -> Dataset`` under ``name``."""
    def deco(builder: Builder) -> Builder:
        _DATASETS[name] = builder
        return builder

    return deco


def available_datasets() -> list[str]:
    return sorted(_DATASETS)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device = "cpu",
    max_train: int | None = None,
    max_test: int | None = None,
    **opts: Any,
) -> Dataset:
    """Load ``name`` whole onto ``device``; ``max_train`` / ``max_test`` keep only the leading samples of each split.

    ``root`` is ignored by the datasets that need no files (``digits``, ``synthetic``).
    Raises ``DatasetError`` for missing or corrupt files, ``KeyError`` for an unknown name, ``ValueError`` for
    bad options.
    """
    if name not in _DATASETS:
        raise KeyError(f"unknown dataset {name!r}; choose one of {available_datasets()}")
    builder = _DATASETS[name]
    params = inspect.signature(builder).parameters
    accepted = [p for p in params if p not in ("root", "device")]
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise ValueError(f"dataset {name!r} takes no option(s) {unknown}; its options are {accepted or 'none'}")
    path = Path(root).expanduser() if root is not None else None
    data = builder(path, torch.device(device), **opts)
    return data.head(max_train, max_test)
