"""Device-side mini-batches from tensors already in memory.

No internal state worth saving: every ``iter()`` draws a fresh order (and augmentations) from the generator it was
given, so a search loop that checkpoints that generator's state and re-creates iterators each epoch resumes exactly.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

Augment = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]


class BatchIterator:
    """Yields ``(x_batch, y_batch)`` on the data's device; ``len()`` is the number of steps per epoch."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        augment: Augment | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}; pass matching tensors")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if drop_last and len(x) < batch_size:
            raise ValueError(
                f"batch_size {batch_size} exceeds the {len(x)} samples, so drop_last leaves no batch; "
                "lower batch_size or set drop_last=False"
            )
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.augment = augment
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, device = len(self.x), self.x.device
        if self.shuffle:
            draw_on = self.generator.device if self.generator is not None else device
            order = torch.randperm(n, generator=self.generator, device=draw_on).to(device)
        else:
            order = None
        for step in range(len(self)):
            lo, hi = step * self.batch_size, min((step + 1) * self.batch_size, n)
            if order is None:
                xb, yb = self.x[lo:hi], self.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = self.x[idx], self.y[idx.to(self.y.device)]
            if self.augment is not None:
                xb = self.augment(xb, self.generator)
            yield xb, yb


def rank_slice(n: int, rank: int, world_size: int, *, exact: bool = True) -> slice:
    """Rank ``rank``'s contiguous part of ``n`` items split over ``world_size`` ranks (data parallelism).

    The parts of ranks ``0..world_size-1`` are disjoint and, in rank order, make up ``range(n)`` exactly. With
    ``exact`` (a batch: every rank must get the same share, so that the mean of per-rank losses is the batch's mean)
    ``n`` must be divisible by ``world_size``; otherwise the parts differ in size by at most one.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size} processes")
    if exact and n % world_size:
        raise ValueError(f"a batch of {n} cannot be split evenly over {world_size} processes")
    return slice(n * rank // world_size, n * (rank + 1) // world_size)
