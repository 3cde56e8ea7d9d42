"""The weight/architecture split and the batch iterator."""

import pytest
import torch

from irlas_darts.data import AugmentSpec, BatchIterator, split_train


def test_split_halves_disjoint_and_cover():
    w, a = split_train(101, generator=torch.Generator().manual_seed(0))
    assert len(w) == 50 or len(w) == 51
    assert len(w) + len(a) == 101
    assert sorted(torch.cat([w, a]).tolist()) == list(range(101))
    assert not set(w.tolist()) & set(a.tolist())


def test_split_fraction_and_determinism():
    w, a = split_train(100, 0.8, torch.Generator().manual_seed(1))
    w2, a2 = split_train(100, 0.8, torch.Generator().manual_seed(1))
    w3, _ = split_train(100, 0.8, torch.Generator().manual_seed(2))
    assert len(w) == 80 and len(a) == 20
    assert torch.equal(w, w2) and torch.equal(a, a2) and not torch.equal(w, w3)
    with pytest.raises(ValueError):
        split_train(10, 1.0)
    with pytest.raises(ValueError):
        split_train(1)


def test_lengths_and_drop_last():
    x, y = torch.randn(10, 1, 2, 2), torch.arange(10)
    it = BatchIterator(x, y, 4)
    assert len(it) == 2 and [len(b) for _, b in it] == [4, 4]
    keep = BatchIterator(x, y, 4, drop_last=False, shuffle=False)
    assert len(keep) == 3 and [len(b) for _, b in keep] == [4, 4, 2]
    assert torch.cat([b for _, b in keep]).tolist() == list(range(10))
    with pytest.raises(ValueError, match="drop_last"):
        BatchIterator(x, y, 11)


def test_shuffle_is_a_permutation_driven_by_the_generator():
    x, y = torch.arange(12.0).view(12, 1, 1, 1), torch.arange(12)
    epoch = lambda seed: [b for _, b in BatchIterator(x, y, 3, generator=torch.Generator().manual_seed(seed))]
    first = torch.cat(epoch(0))
    assert sorted(first.tolist()) == list(range(12))
    assert torch.equal(first, torch.cat(epoch(0))) and not torch.equal(first, torch.cat(epoch(1)))
    for xb, yb in BatchIterator(x, y, 3, generator=torch.Generator().manual_seed(0)):
        assert torch.equal(xb.view(-1).long(), yb)  # images and labels stay paired


def test_resume_from_generator_state_reproduces_the_epoch():
    x, y = torch.randn(20, 1, 4, 4), torch.arange(20)
    g = torch.Generator().manual_seed(7)
    aug = AugmentSpec(crop_padding=1, flip=True)
    list(BatchIterator(x, y, 5, augment=aug, generator=g))  # epoch 0
    state = g.get_state()
    epoch1 = list(BatchIterator(x, y, 5, augment=aug, generator=g))
    g2 = torch.Generator()
    g2.set_state(state)
    again = list(BatchIterator(x, y, 5, augment=aug, generator=g2))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(epoch1, again))
