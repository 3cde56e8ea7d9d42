"""The regularizer plugin interface and registry, and the plain-DARTS ``none`` regularizer.

A regularizer adds a term to the architecture loss (``L_alpha = L_val + loss(alphas)``) and is told at each epoch's
end what the search found, so it can update its own state (the IRL step). Everything it needs to resume exactly is
in ``state_dict``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..spaces import Alphas, AnyGenotype, SearchSpace

_REGULARIZERS: dict[str, Callable[..., "Regularizer"]] = {}


def register_regularizer(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        _REGULARIZERS[name] = cls
        cls.name = name
        return cls

    return deco


def create_regularizer(name: str, space: SearchSpace, **options: Any) -> "Regularizer":
    from . import imitation, irl  # noqa: F401  (register the plugins shipped with the package)

    if name not in _REGULARIZERS:
        raise KeyError(f"unknown regularizer {name!r}; choose one of {sorted(_REGULARIZERS)}")
    return _REGULARIZERS[name](space, **options)


def available_regularizers() -> list[str]:
    from . import imitation, irl  # noqa: F401

    return sorted(_REGULARIZERS)


class Regularizer:
    """Base class; ``none`` is this class as it is: no loss term, nothing to learn."""

    name = "none"

    def __init__(self, space: SearchSpace, **options: Any) -> None:
        self.space = space
        self.options = options

    def loss(self, alphas: Alphas) -> torch.Tensor:
        """Term added to the validation loss in the architecture step; differentiable in ``alphas``."""
        return next(iter(alphas.values())).new_zeros(())

    def update(self, epoch: int, alphas: Alphas, genotype: AnyGenotype) -> dict[str, Any]:
        """Epoch-end callback (``epoch`` counts from 0); returns values to log for this epoch."""
        return {}

    def summary(self, alphas: Alphas, genotype: AnyGenotype) -> dict[str, Any]:
        """The ``topology`` block of metrics.json; plugins that measure topology fill it in."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


register_regularizer("none")(Regularizer)
