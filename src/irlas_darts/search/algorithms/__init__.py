"""Search algorithms as plug-ins of the one search loop: ``darts``, ``pc_darts``, ``gdas``, ``drnas``; beta-decay
(beta-DARTS) is an option of every one. See ``base.py`` for what an algorithm decides."""

from . import drnas, gdas, pc_darts  # noqa: F401  the shipped algorithms register on import; base.py never imports them
from .base import Algorithm, as_logits, available_algorithms, create_algorithm, register_algorithm
from .drnas import DrNAS
from .edges import PartialChannelMixedOp, SingleOpMixedOp, channel_shuffle, replace_mixed_ops
from .gdas import GDAS, hard_gumbel
from .pc_darts import PCDarts

__all__ = [
    "Algorithm", "DrNAS", "GDAS", "PCDarts", "PartialChannelMixedOp", "SingleOpMixedOp", "as_logits",
    "available_algorithms", "channel_shuffle", "create_algorithm", "hard_gumbel", "register_algorithm",
    "replace_mixed_ops",
]
