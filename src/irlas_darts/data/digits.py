"""``digits``: scikit-learn's 8x8 handwritten digits (UCI, CC BY 4.0), shipped inside the package.

1797 images, 10 classes, 1x8x8, pixel values 0..16. The train/test split is baked into ``resources/digits.npz`` by
``experiments/build_digits_resource.py``: stratified, 1/5 of each class held out (1438 train / 359 test), numpy
seed 0 — fixed for every run and independent of the run seed. Normalization uses the training split's mean and std.
Augmentation: 1 px crop padding, no flip (mirrored digits are other symbols).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .augment import AugmentSpec
from .datasets import Dataset, images_from_uint8, labels_from_numpy, register_dataset
from .errors import DatasetError

RESOURCE = "digits.npz"
_EXPECTED = "expected the packaged digits.npz with x_train, y_train, x_test, y_test; rebuild it with " \
            "experiments/build_digits_resource.py"


def _read() -> dict[str, np.ndarray]:
    ref = resources.files("irlas_darts.resources").joinpath(RESOURCE)
    try:
        with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            return {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise DatasetError(f"digits: cannot read {ref} ({exc}; {_EXPECTED})") from None


@register_dataset("digits")
def load_digits(root: Path | None, device: torch.device) -> Dataset:
    arrays = _read()
    train_u8 = arrays["x_train"][:, None]  # (N, 1, 8, 8), values 0..16
    # Stats in [0, 1] pixel units, from the fixed training split: the same numbers on every run.
    scaled = train_u8.astype(np.float64) / 16.0
    mean, std = (float(scaled.mean()),), (float(scaled.std()),)
    return Dataset(
        train_x=images_from_uint8(train_u8, 16.0, mean, std, device),
        train_y=labels_from_numpy(arrays["y_train"], device),
        test_x=images_from_uint8(arrays["x_test"][:, None], 16.0, mean, std, device),
        test_y=labels_from_numpy(arrays["y_test"], device),
        num_classes=10, name="digits", augment=AugmentSpec(crop_padding=1, flip=False), mean=mean, std=std,
    )
