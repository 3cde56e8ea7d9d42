"""mnist / fashion_mnist read idx files, plain or gzipped, written here in the exact format."""

import gzip
import struct

import numpy as np
import pytest
import torch

from irlas_darts.data import DatasetError, load_dataset, read_idx

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_idx_set(root, gz, n_train=5, n_test=3, size=6):
    rng = np.random.default_rng(0)
    arrays = {
        STEMS[0]: rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        STEMS[1]: (np.arange(n_train) % 10).astype(np.uint8),
        STEMS[2]: rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        STEMS[3]: (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    for stem, arr in arrays.items():
        if gz:
            (root / f"{stem}.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
        else:
            (root / stem).write_bytes(_idx_bytes(arr))
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_loads_idx_plain_and_gzipped(tmp_path, gz, name):
    arrays = _write_idx_set(tmp_path, gz)
    ds = load_dataset(name, tmp_path)
    assert ds.train_x.shape == (5, 1, 6, 6) and ds.test_x.shape == (3, 1, 6, 6) and ds.input_shape == (1, 6, 6)
    assert ds.train_y.tolist() == arrays[STEMS[1]].tolist() and ds.test_y.tolist() == arrays[STEMS[3]].tolist()
    raw = (ds.train_x[:, 0] * ds.std[0] + ds.mean[0]) * 255
    assert torch.allclose(raw, torch.from_numpy(arrays[STEMS[0]]).float(), atol=1e-3)
    assert not ds.augment.flip and ds.augment.crop_padding == 2


def test_read_idx_roundtrip_other_dtype(tmp_path):
    arr = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    path = tmp_path / "x-idx3"
    path.write_bytes(struct.pack(">BBBB", 0, 0, 0x0C, 3) + struct.pack(">3I", 2, 3, 4) + arr.tobytes())
    assert np.array_equal(read_idx(path, 3), arr)


def test_missing_file_names_it(tmp_path):
    _write_idx_set(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte" in msg and str(tmp_path) in msg and "\n" not in msg


@pytest.mark.parametrize("damage", ["magic", "ndim", "truncated", "bad_gzip"])
def test_corrupt_idx_raises_dataset_error(tmp_path, damage):
    _write_idx_set(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = path.read_bytes()
    if damage == "magic":
        path.write_bytes(b"\x12\x34" + raw[2:])
    elif damage == "ndim":  # labels where images belong
        path.write_bytes((tmp_path / "train-labels-idx1-ubyte").read_bytes())
    elif damage == "truncated":
        path.write_bytes(raw[:-7])
    else:
        path.unlink()
        path = tmp_path / "train-images-idx3-ubyte.gz"
        path.write_bytes(gzip.compress(raw)[:20])
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_label_count_mismatch(tmp_path):
    _write_idx_set(tmp_path, gz=False)
    (tmp_path / STEMS[1]).write_bytes(_idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DatasetError, match="labels"):
        load_dataset("mnist", tmp_path)


def test_mnist_needs_a_root():
    with pytest.raises(DatasetError, match="no root"):
        load_dataset("mnist")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_size_downsamples_by_area_means(tmp_path, name):
    """size=3 on 6 px images: every output pixel is the mean of its 2x2 block (normalisation is affine, so it
    commutes with the mean)."""
    arrays = _write_idx_set(tmp_path, gz=False)
    ds = load_dataset(name, tmp_path, size=3)
    assert ds.train_x.shape == (5, 1, 3, 3) and ds.test_x.shape == (3, 1, 3, 3) and ds.input_shape == (1, 3, 3)
    raw = (ds.train_x[:, 0] * ds.std[0] + ds.mean[0]) * 255
    blocks = torch.from_numpy(arrays[STEMS[0]]).float().reshape(5, 3, 2, 3, 2).mean(dim=(2, 4))
    assert torch.allclose(raw, blocks, atol=1e-3)
    for bad in (7, 1, "14"):
        with pytest.raises(ValueError, match="dataset.options.size="):
            load_dataset(name, tmp_path, size=bad)
