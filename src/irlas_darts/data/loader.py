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
