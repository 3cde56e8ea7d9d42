"""cifar10 reads the standard python batches from files written here in the exact layout."""

import pickle

import numpy as np
import pytest
import torch

from irlas_darts.data import DatasetError, load_dataset

N_PER_BATCH = 3


def _write_batch(path, n, offset):
    rng = np.random.default_rng(offset)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in (np.arange(n) + offset) % 10]
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"f"] * n}, fh, protocol=2)
    return data, labels


@pytest.fixture
def cifar_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    written = {}
    for i in range(1, 6):
        written[f"data_batch_{i}"] = _write_batch(folder / f"data_batch_{i}", N_PER_BATCH, i)
    written["test_batch"] = _write_batch(folder / "test_batch", 2, 7)
    return tmp_path, written


def test_reads_batches_in_order_with_channel_major_layout(cifar_root):
    root, written = cifar_root
    ds = load_dataset("cifar10", root)
    assert ds.train_x.shape == (5 * N_PER_BATCH, 3, 32, 32) and ds.train_x.dtype == torch.float32
    assert ds.test_x.shape == (2, 3, 32, 32) and ds.train_y.dtype == torch.int64
    assert ds.input_shape == (3, 32, 32) and ds.num_classes == 10
    assert ds.augment.crop_padding == 4 and ds.augment.flip
    first_data, first_labels = written["data_batch_1"]
    assert ds.train_y[:N_PER_BATCH].tolist() == first_labels
    assert ds.test_y.tolist() == written["test_batch"][1]
    # Undo the normalization: pixel (c=1, h=2, w=5) of the first image sits at 1*1024 + 2*32 + 5 in the flat row.
    mean, std = torch.tensor(ds.mean), torch.tensor(ds.std)
    raw = (ds.train_x[0] * std[:, None, None] + mean[:, None, None]) * 255
    assert torch.allclose(raw, torch.from_numpy(first_data[0].reshape(3, 32, 32)).float(), atol=1e-3)
    assert abs(raw[1, 2, 5].item() - first_data[0, 1 * 1024 + 2 * 32 + 5]) < 1e-3


def test_root_may_be_the_batches_folder_itself(cifar_root):
    root, _ = cifar_root
    a = load_dataset("cifar10", root)
    b = load_dataset("cifar10", str(root / "cifar-10-batches-py"))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_max_train_keeps_leading_samples(cifar_root):
    root, _ = cifar_root
    full = load_dataset("cifar10", root)
    head = load_dataset("cifar10", root, max_train=4, max_test=1)
    assert len(head.train_x) == 4 and len(head.test_y) == 1
    assert torch.equal(head.train_x, full.train_x[:4])


def test_missing_batch_names_file_and_layout(cifar_root):
    root, _ = cifar_root
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", root)
    msg = str(err.value)
    assert "data_batch_3" in msg and str(root) in msg and "cifar-10-batches-py" in msg and "\n" not in msg


def test_missing_root_folder(tmp_path):
    with pytest.raises(DatasetError, match="no folder"):
        load_dataset("cifar10", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no root"):
        load_dataset("cifar10")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape", "code"])
def test_corrupt_batch_raises_dataset_error(cifar_root, damage):
    root, _ = cifar_root
    path = root / "cifar-10-batches-py" / "test_batch"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"not a pickle at all")
    elif damage == "wrong_shape":
        with open(path, "wb") as fh:
            pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    else:  # a pickle that would call a function must be refused, not run
        with open(path, "wb") as fh:
            pickle.dump({b"data": print, b"labels": []}, fh)
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", root)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("protocol", [4, 5])
def test_newer_pickle_protocols_with_str_keys(cifar_root, protocol):
    root, _ = cifar_root
    data = np.full((2, 3072), 7, np.uint8)
    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as fh:
        pickle.dump({"data": data, "labels": [3, 4]}, fh, protocol=protocol)
    ds = load_dataset("cifar10", root)
    assert ds.test_y.tolist() == [3, 4] and ds.test_x.shape == (2, 3, 32, 32)
