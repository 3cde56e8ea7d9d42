"""The topology prior as a drop-in for anyone's search loop: ``Prior(space, expert, lam).loss(alphas)``.

Sits above ``regularizers`` (it builds one) and beside ``search``: it never imports our search loop, so foreign code
gets the prior alone.
"""

from .drop_in import Prior
from .experts import shipped_expert_texts, shipped_experts
from .layout import AlphaLayout, LayoutError

__all__ = ["AlphaLayout", "LayoutError", "Prior", "shipped_expert_texts", "shipped_experts"]
