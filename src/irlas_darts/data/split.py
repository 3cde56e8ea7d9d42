"""The search's split of the training set into a weight part and an architecture part (SPEC 3: default 50/50)."""

from __future__ import annotations

import torch


def split_train(
    n: int, weight_fraction: float = 0.5, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint index tensors ``(weight_idx, arch_idx)`` covering ``range(n)``, from one permutation by ``generator``.

    Indices live on the generator's device (CPU when none is given); the test split is never part of this.
    """
    if not 0.0 < weight_fraction < 1.0:
        raise ValueError(f"weight_fraction must lie strictly between 0 and 1, got {weight_fraction}")
    if n < 2:
        raise ValueError(f"cannot split {n} training samples into two non-empty parts; need at least 2")
    n_weight = min(max(int(round(n * weight_fraction)), 1), n - 1)
    device = generator.device if generator is not None else torch.device("cpu")
    perm = torch.randperm(n, generator=generator, device=device)
    return perm[:n_weight], perm[n_weight:]
