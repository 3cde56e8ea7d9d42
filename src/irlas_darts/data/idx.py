"""The idx format (MNIST, Fashion-MNIST) and the ``mnist`` / ``fashion_mnist`` datasets.

idx: a big-endian header — two zero bytes, a type code, the number of dimensions — then one uint32 per dimension,
then the values. Files may be gzipped (``.gz``) or plain. ``fashion_mnist`` defaults to the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz``).

Augmentation: 2 px crop padding, no flip for either. Digits change meaning when mirrored; for Fashion-MNIST flips
would be label-safe, but every shoe in the data faces left, so mirrored images lie off the test distribution.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentSpec
from .datasets import Dataset, images_from_uint8, labels_from_numpy, register_dataset
from .errors import DatasetError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
_LAYOUT = ("expected train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
           "t10k-labels-idx1-ubyte, each plain or .gz")
_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path, ndim: int | None = None, dataset: str = "idx") -> np.ndarray:
    """Parse one idx file (gzipped or not); ``ndim`` checks the magic number's dimension count."""
    def bad(why: str) -> DatasetError:
        return DatasetError(f"{dataset}: corrupt {path} ({why}; {_LAYOUT})")

    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise bad(f"cannot read: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise bad(f"bad magic number {raw[:4].hex() or 'none'}")
    dims = raw[3]
    if ndim is not None and dims != ndim:
        raise bad(f"magic number says {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise bad("truncated header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=dims, offset=4))
    dtype = np.dtype(_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise bad(f"{len(raw) - header} data bytes, header {shape} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def find_file(root: Path, stem: str, dataset: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{dataset}: no {stem}[.gz] under {root} ({_LAYOUT})")


def _read_split(root: Path, split: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    img_path = find_file(root, FILES[f"{split}_images"], dataset)
    lab_path = find_file(root, FILES[f"{split}_labels"], dataset)
    images = read_idx(img_path, 3, dataset)
    labels = read_idx(lab_path, 1, dataset)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DatasetError(f"{dataset}: {img_path} and {lab_path} must hold unsigned bytes ({_LAYOUT})")
    if len(images) != len(labels):
        raise DatasetError(f"{dataset}: {len(images)} images in {img_path} but {len(labels)} labels in {lab_path} "
                           f"({_LAYOUT})")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{dataset}: label {labels.max()} in {lab_path} is outside 0..9 ({_LAYOUT})")
    return images, labels


def _load_idx_dataset(
    name: str, root: Path, mean: float, std: float, device: torch.device, hint: str = "", size: int | None = None
) -> Dataset:
    if not root.is_dir():
        raise DatasetError(f"{name}: no folder {root} ({_LAYOUT}{hint})")
    train_u8, train_y = _read_split(root, "train", name)
    test_u8, test_y = _read_split(root, "test", name)
    if train_u8.shape[1:] != test_u8.shape[1:]:
        raise DatasetError(f"{name}: train images {train_u8.shape[1:]} and test images {test_u8.shape[1:]} under "
                           f"{root} differ in size ({_LAYOUT})")
    if size is not None and not (isinstance(size, int) and 2 <= size <= train_u8.shape[1]):
        raise ValueError(f"dataset.options.size={size!r} is not valid for {name}; use an integer in "
                         f"[2, {train_u8.shape[1]}] (the side to downsample the images to)")
    return Dataset(
        train_x=_resized(images_from_uint8(train_u8[:, None], 255.0, (mean,), (std,), device), size),
        train_y=labels_from_numpy(train_y, device),
        test_x=_resized(images_from_uint8(test_u8[:, None], 255.0, (mean,), (std,), device), size),
        test_y=labels_from_numpy(test_y, device),
        num_classes=10, name=name, augment=AugmentSpec(crop_padding=2, flip=False), mean=(mean,), std=(std,),
    )


def _resized(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Area-averaged downsampling of the whole split at once: a 14 px search costs a quarter of a 28 px one."""
    if size is None or size == images.shape[-1]:
        return images
    return F.interpolate(images, size=(size, size), mode="area")


@register_dataset("mnist")
def load_mnist(root: Path | None, device: torch.device, size: int | None = None) -> Dataset:
    if root is None:
        raise DatasetError(f"mnist: no root given (pass root=<folder>; {_LAYOUT})")
    return _load_idx_dataset("mnist", root, 0.1307, 0.3081, device, size=size)


@register_dataset("fashion_mnist")
def load_fashion_mnist(root: Path | None, device: torch.device, size: int | None = None) -> Dataset:
    """``size``: downsample to size x size pixels (``dataset.options.size=14``) for quicker searches."""
    hint = "; install the Debian package dataset-fashion-mnist or pass root=<folder>" if root is None else ""
    return _load_idx_dataset("fashion_mnist", root or FASHION_ROOT, 0.2860, 0.3530, device, hint, size=size)
