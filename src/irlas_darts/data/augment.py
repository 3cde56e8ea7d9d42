"""Batched, generator-driven augmentation on tensors (no per-sample Python loops).

Images are already normalized, so padding and cutout fill with 0 — the dataset's mean colour — as DARTS' cutout
(applied after ``Normalize``) does. Random numbers are drawn on the generator's own device and then moved to the
data's device: a CPU generator therefore gives the same augmentations whether the data lives on CPU or GPU, and its
state is cheap to checkpoint; a CUDA generator works too when the data is on that device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _draw_device(generator: torch.Generator | None, x: torch.Tensor) -> torch.device:
    return generator.device if generator is not None else x.device


def _randint(high: int, n: int, generator: torch.Generator | None, x: torch.Tensor) -> torch.Tensor:
    dev = _draw_device(generator, x)
    return torch.randint(0, high, (n,), generator=generator, device=dev).to(x.device)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad the batch by ``padding`` px once, then cut each image at its own random offset."""
    if padding < 0:
        raise ValueError(f"crop padding must be >= 0, got {padding}")
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = _randint(2 * padding + 1, n, generator, x)
    dx = _randint(2 * padding + 1, n, generator, x)
    # Two gathers (rows, then columns) with per-sample index arithmetic: one pass, no loop over samples.
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(n, c, h, w + 2 * padding)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(n, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def hflip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``mask`` (bool, per sample) is set; applying it twice with one mask is the identity."""
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    dev = _draw_device(generator, x)
    mask = torch.rand(x.shape[0], generator=generator, device=dev).to(x.device) < p
    return hflip(x, mask)


def cutout(x: torch.Tensor, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one ``length``-px square per image, centred anywhere, clipped at the border (DeVries & Taylor, 2017)."""
    if length <= 0:
        return x
    n, _, h, w = x.shape
    cy = _randint(h, n, generator, x)
    cx = _randint(w, n, generator, x)
    half = length // 2
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    in_y = (ys >= (cy - half)[:, None]) & (ys < (cy + length - half)[:, None])  # (N, H)
    in_x = (xs >= (cx - half)[:, None]) & (xs < (cx + length - half)[:, None])  # (N, W)
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


@dataclass(frozen=True)
class AugmentSpec:
    """What augmentation suits a dataset, and the callable that applies it: crop, then flip, then cutout."""

    crop_padding: int = 0
    flip: bool = False
    cutout: int = 0  # square side in px; 0 = off (evaluation turns it on, search leaves it off)

    @property
    def is_identity(self) -> bool:
        return self.crop_padding == 0 and not self.flip and self.cutout == 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = random_crop(x, self.crop_padding, generator)
        if self.flip:
            x = random_hflip(x, generator)
        return cutout(x, self.cutout, generator)
