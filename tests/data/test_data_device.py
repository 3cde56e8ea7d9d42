"""On an accelerator: data, augmentation and batches stay on the device; a CPU generator gives CPU's numbers."""

import pytest
import torch

from irlas_darts.data import AugmentSpec, BatchIterator, load_dataset, split_train

# every test here needs a device; `make gpu-check` selects them with `pytest -m cuda`
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_dataset_and_batches_live_on_the_device():
    ds = load_dataset("synthetic", n_train=32, n_test=8, device="cuda")
    assert ds.train_x.is_cuda and ds.test_y.is_cuda and ds.device.type == "cuda"
    w, _ = split_train(len(ds.train_x), generator=torch.Generator().manual_seed(0))
    it = BatchIterator(ds.train_x[w.cuda()], ds.train_y[w.cuda()], 4, augment=AugmentSpec(1, True, 2),
                       generator=torch.Generator().manual_seed(0))
    xb, yb = next(iter(it))
    assert xb.is_cuda and yb.is_cuda and xb.shape == (4, 1, 8, 8)


def test_cpu_generator_gives_the_same_augmentation_on_cpu_and_cuda():
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    spec = AugmentSpec(crop_padding=2, flip=True, cutout=3)
    on_cpu = spec(x, torch.Generator().manual_seed(4))
    on_gpu = spec(x.cuda(), torch.Generator().manual_seed(4))
    assert torch.equal(on_cpu, on_gpu.cpu())


def test_cuda_generator_is_deterministic():
    x = torch.randn(16, 3, 8, 8, device="cuda")
    spec = AugmentSpec(crop_padding=2, flip=True, cutout=3)
    a = spec(x, torch.Generator(device="cuda").manual_seed(4))
    b = spec(x, torch.Generator(device="cuda").manual_seed(4))
    assert torch.equal(a, b) and a.is_cuda
