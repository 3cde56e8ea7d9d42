"""``cifar10``: the standard python version, the ``cifar-10-batches-py`` folder (data_batch_1..5, test_batch).

Each batch is a pickled dict with ``b'data'`` (N, 3072) uint8 in channel-major order and ``b'labels'``. Pickles are
read with an unpickler that only admits numpy's array reconstruction, so a stray file cannot run code.
Normalization uses the usual CIFAR-10 training-set mean/std (those of DARTS); augmentation: 4 px crop padding and
horizontal flips (the standard CIFAR recipe).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .augment import AugmentSpec
from .datasets import Dataset, images_from_uint8, labels_from_numpy, register_dataset
from .errors import DatasetError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
MEAN = (0.49139968, 0.48215827, 0.44653124)
STD = (0.24703233, 0.24348505, 0.26158768)
_LAYOUT = f"expected the '{FOLDER}' folder with data_batch_1..5 and test_batch"

# What numpy arrays need to unpickle (protocols 2..5, numpy 1 and 2 module names); ``_codecs.encode`` is how
# protocol-2 pickles written by Python 3 store bytes.
_ALLOWED_GLOBALS = {
    *((mod, fn) for mod in ("numpy.core.multiarray", "numpy._core.multiarray") for fn in ("_reconstruct", "scalar")),
    *((mod, "_frombuffer") for mod in ("numpy.core.numeric", "numpy._core.numeric")),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return super().find_class(module, name)


def resolve_folder(root: Path) -> Path:
    """Accept ``root`` as the batches folder itself or as its parent."""
    return root / FOLDER if (root / FOLDER).is_dir() else root


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"cifar10: no {path.name} under {path.parent} ({_LAYOUT})")
    try:
        with path.open("rb") as fh:
            batch = _ArrayUnpickler(fh, encoding="bytes").load()
        data = batch.get(b"data", batch.get("data")) if isinstance(batch, dict) else None
        labels = batch.get(b"labels", batch.get("labels")) if isinstance(batch, dict) else None
        if data is None or labels is None:
            raise ValueError("no b'data' / b'labels' entries")
        data, labels = np.asarray(data), np.asarray(labels)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"data is {data.dtype} {data.shape}, not uint8 (N, 3072)")
        if labels.shape != (len(data),) or labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"labels {labels.shape} do not match {len(data)} images in 0..9")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError,
            MemoryError) as exc:
        raise DatasetError(f"cifar10: corrupt {path} ({exc}; {_LAYOUT})") from None
    return data.reshape(-1, 3, 32, 32), labels


@register_dataset("cifar10")
def load_cifar10(root: Path | None, device: torch.device) -> Dataset:
    if root is None:
        raise DatasetError(f"cifar10: no root given (pass root=<folder>; {_LAYOUT}, or its parent)")
    if not root.is_dir():
        raise DatasetError(f"cifar10: no folder {root} ({_LAYOUT}, or its parent)")
    folder = resolve_folder(root)
    parts = [_read_batch(folder / f) for f in TRAIN_FILES]
    test_u8, test_y = _read_batch(folder / TEST_FILE)
    train_u8 = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return Dataset(
        train_x=images_from_uint8(train_u8, 255.0, MEAN, STD, device),
        train_y=labels_from_numpy(train_y, device),
        test_x=images_from_uint8(test_u8, 255.0, MEAN, STD, device),
        test_y=labels_from_numpy(test_y, device),
        num_classes=10, name="cifar10", augment=AugmentSpec(crop_padding=4, flip=True), mean=MEAN, std=STD,
    )
