"""The packaged digits, the generated synthetic set, and the registry around them."""

import pytest
import torch

from irlas_darts.data import AugmentSpec, Dataset, available_datasets, load_dataset


def test_registry_lists_all_names():
    assert {"digits", "cifar10", "fashion_mnist", "mnist", "synthetic"} <= set(available_datasets())
    with pytest.raises(KeyError, match="unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="no option"):
        load_dataset("digits", colour=True)


def test_digits_counts_shapes_and_split():
    ds = load_dataset("digits")
    assert len(ds.train_x) + len(ds.test_x) == 1797
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert len(ds.test_x) == pytest.approx(1797 / 5, abs=5)  # 1/5 of each class held out
    assert set(ds.train_y.tolist()) == set(range(10)) == set(ds.test_y.tolist())
    counts = torch.bincount(ds.test_y, minlength=10)
    assert counts.max() - counts.min() <= 3  # stratified
    # normalized with the training split's own statistics
    assert abs(ds.train_x.mean().item()) < 1e-4 and abs(ds.train_x.std().item() - 1) < 1e-3
    assert ds.augment == AugmentSpec(crop_padding=1, flip=False)
    # the split is fixed: no train image reappears in the test split (checked on raw pixel patterns)
    train_rows = {tuple(r) for r in ds.train_x.flatten(1).mul(1e4).round().long().tolist()}
    dup = sum(tuple(r) in train_rows for r in ds.test_x.flatten(1).mul(1e4).round().long().tolist())
    assert dup < 5  # sklearn's digits hold a handful of exact duplicates at most


def test_digits_is_identical_across_loads():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_synthetic_options_and_determinism():
    a = load_dataset("synthetic", n_train=40, n_test=20, num_classes=4, size=6, channels=3, seed=3)
    b = load_dataset("synthetic", n_train=40, n_test=20, num_classes=4, size=6, channels=3, seed=3)
    c = load_dataset("synthetic", n_train=40, n_test=20, num_classes=4, size=6, channels=3, seed=4)
    assert a.train_x.shape == (40, 3, 6, 6) and a.test_x.shape == (20, 3, 6, 6) and a.num_classes == 4
    assert torch.equal(a.train_x, b.train_x) and not torch.equal(a.train_x, c.train_x)
    assert torch.bincount(a.train_y, minlength=4).tolist() == [10, 10, 10, 10]


def test_synthetic_is_learnable_by_nearest_class_mean():
    ds = load_dataset("synthetic", n_train=400, n_test=200, num_classes=10, size=8, seed=0)
    centroids = torch.stack([ds.train_x[ds.train_y == k].mean(0) for k in range(10)]).flatten(1)
    pred = torch.cdist(ds.test_x.flatten(1), centroids).argmin(1)
    assert (pred == ds.test_y).float().mean().item() > 0.9


def test_dataset_to_and_head_keep_fields():
    ds = load_dataset("synthetic", n_train=10, n_test=6)
    moved = ds.to("cpu").head(4, 2)
    assert isinstance(moved, Dataset) and moved.name == "synthetic" and moved.mean == ds.mean
    assert len(moved.train_y) == 4 and len(moved.test_x) == 2
