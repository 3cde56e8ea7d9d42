"""Build the packaged ``digits`` dataset once: scikit-learn's 8x8 handwritten digits, split and compressed.

The package never imports scikit-learn; it reads the ``.npz`` this script writes. The train/test split is baked into
the file (stratified, 1/5 of each class held out, numpy seed 0), so it is the same on every machine and independent of
any run seed. Run from the repository root::

    .venv/bin/python experiments/build_digits_resource.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

SPLIT_SEED = 0
TEST_FRACTION = 0.2
RESOURCES = Path(__file__).resolve().parents[1] / "src" / "irlas_darts" / "resources"

LICENSE_TEXT = """\
digits.npz: 8x8 handwritten digits (1797 images, 10 classes, pixel values 0..16)

Source: UCI Machine Learning Repository, "Optical Recognition of Handwritten Digits",
E. Alpaydin and C. Kaynak (1998), https://doi.org/10.24432/C50P49 ,
as distributed with scikit-learn (sklearn.datasets.load_digits).
Licence: Creative Commons Attribution 4.0 International (CC BY 4.0),
https://creativecommons.org/licenses/by/4.0/

Changes made here: pixel values stored as uint8; the 1797 images split into a training
part and a test part (stratified by class, 1/5 of each class held out, numpy
default_rng(0)); arrays x_train, y_train, x_test, y_test, with idx_train / idx_test
giving each image's position in scikit-learn's order. Built by
experiments/build_digits_resource.py.
"""


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(members) * test_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    # Interleave classes so that leading subsets (max_train) stay roughly balanced.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESOURCES)
    args = parser.parse_args()

    bunch = load_digits()
    images, labels = bunch.images, bunch.target
    if not np.array_equal(images, np.round(images)) or images.min() < 0 or images.max() > 16:
        raise SystemExit("load_digits returned non-integer or out-of-range pixels; expected integers 0..16")
    pixels = images.astype(np.uint8)
    idx_train, idx_test = stratified_split(labels, TEST_FRACTION, SPLIT_SEED)

    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out / "digits.npz",
        x_train=pixels[idx_train], y_train=labels[idx_train].astype(np.uint8),
        x_test=pixels[idx_test], y_test=labels[idx_test].astype(np.uint8),
        idx_train=idx_train.astype(np.int16), idx_test=idx_test.astype(np.int16),
    )
    (args.out / "DIGITS_LICENSE.txt").write_text(LICENSE_TEXT)
    print(f"wrote {args.out / 'digits.npz'}: {len(idx_train)} train, {len(idx_test)} test")


if __name__ == "__main__":
    main()
