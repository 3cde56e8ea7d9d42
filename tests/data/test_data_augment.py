"""Batched augmentation: shapes, determinism per generator, identities."""

import pytest
import torch

from irlas_darts.data import AugmentSpec, cutout, hflip, random_crop, random_hflip


def _batch(n=16, c=2, h=6, w=7):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(0))


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_crop_padding_zero_is_identity():
    x = _batch()
    assert torch.equal(random_crop(x, 0, _g(1)), x)


def test_crop_keeps_shape_and_is_a_shift_of_each_image():
    x = _batch()
    out = random_crop(x, 2, _g(1))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    shifts = set()
    for i in range(len(x)):  # each output is some window of the padded input
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 7])]
        assert hits
        shifts.add(hits[0])
    assert len(shifts) > 1  # offsets differ per sample


def test_augment_is_deterministic_per_seed():
    x = _batch()
    spec = AugmentSpec(crop_padding=1, flip=True, cutout=3)
    assert torch.equal(spec(x, _g(5)), spec(x, _g(5)))
    assert not torch.equal(spec(x, _g(5)), spec(x, _g(6)))
    assert spec(x, _g(5)).shape == x.shape


def test_flip_twice_is_identity():
    x = _batch()
    mask = torch.rand(len(x), generator=_g(2)) < 0.5
    assert torch.equal(hflip(hflip(x, mask), mask), x)
    assert torch.equal(random_hflip(random_hflip(x, _g(3)), _g(3)), x)
    flipped = hflip(x, mask)
    assert torch.equal(flipped[mask], x[mask].flip(-1)) and torch.equal(flipped[~mask], x[~mask])
    assert 0 < int(mask.sum()) < len(x)


def test_cutout_zeroes_one_clipped_square_per_image():
    x = torch.ones(32, 1, 8, 8)
    out = cutout(x, 4, _g(0))
    assert out.shape == x.shape
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert (zeros >= 4).all() and (zeros <= 16).all()  # a 4x4 square, clipped to at least 2x2 at a corner
    assert (zeros == 16).any()
    assert torch.equal(cutout(x, 0, _g(0)), x)


def test_identity_spec_and_validation():
    x = _batch()
    assert AugmentSpec().is_identity and torch.equal(AugmentSpec()(x, _g(0)), x)
    with pytest.raises(ValueError):
        random_crop(x, -1)
