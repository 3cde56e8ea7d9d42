"""Architecture-loss plugins: ``none`` (plain DARTS), ``imitation`` (copy the expert), ``irl`` (mirror stimuli)."""

from . import imitation, irl  # noqa: F401  the shipped plugins register on import; base.py never imports them
from .base import DEFAULTS, Regularizer, available_regularizers, create_regularizer, register_regularizer
from .imitation import Imitation
from .irl import MirrorStimuliRegularizer

__all__ = [
    "DEFAULTS", "Imitation", "MirrorStimuliRegularizer", "Regularizer", "available_regularizers",
    "create_regularizer", "register_regularizer",
]
