"""``synthetic``: tiny, learnable, generated images for testing the search without any files.

Each class has a fixed random template — blocky (drawn at half resolution, upsampled) so convolutions and pooling see
spatial structure — and a sample is its class template plus Gaussian noise. Everything comes from one CPU generator
seeded with ``seed`` (templates, then the training samples, then the test samples), so the data is identical on every
device. No augmentation by default: the templates are not shift-invariant.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .augment import AugmentSpec
from .datasets import Dataset, register_dataset


def _samples(templates: torch.Tensor, n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    k = len(templates)
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]  # balanced classes, shuffled
    x = templates[labels] + noise * torch.randn((n, *templates.shape[1:]), generator=g)
    return x, labels


@register_dataset("synthetic")
def load_synthetic(
    root: Path | None,
    device: torch.device,
    n_train: int = 512,
    n_test: int = 256,
    num_classes: int = 10,
    size: int = 8,
    channels: int = 1,
    noise: float = 1.0,
    seed: int = 0,
) -> Dataset:
    if min(n_train, n_test, size, channels) < 1 or num_classes < 2 or noise < 0:
        raise ValueError(f"synthetic: need n_train, n_test, size, channels >= 1, num_classes >= 2, noise >= 0; got "
                         f"{n_train=}, {n_test=}, {size=}, {channels=}, {num_classes=}, {noise=}")
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn((num_classes, channels, (size + 1) // 2, (size + 1) // 2), generator=g)
    templates = F.interpolate(coarse, scale_factor=2, mode="nearest")[..., :size, :size].contiguous()
    train_x, train_y = _samples(templates, n_train, noise, g)
    test_x, test_y = _samples(templates, n_test, noise, g)
    mean = train_x.mean(dim=(0, 2, 3))
    std = train_x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    norm = lambda t: ((t - mean[None, :, None, None]) / std[None, :, None, None]).to(device)  # noqa: E731
    return Dataset(
        train_x=norm(train_x), train_y=train_y.to(device), test_x=norm(test_x), test_y=test_y.to(device),
        num_classes=num_classes, name="synthetic", augment=AugmentSpec(),
        mean=tuple(mean.tolist()), std=tuple(std.tolist()),
    )
