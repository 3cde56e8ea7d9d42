"""A caller's architecture parameters in our layout: ``{cell_type: Tensor(n_edges, n_ops)}`` in the space's op order.

Foreign search code keeps its alphas its own way: the original DARTS as ``model.alphas_normal`` /
``model.alphas_reduce`` (14 x 8), an AutoDL-style NAS-Bench-201 search as one ``arch_parameters`` (6 x 5), a list from
``model.arch_parameters()``. Rows are already in our order in both (DARTS: node 2..5, then each earlier node;
NAS-Bench-201: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), so only the columns may need moving, and only when the caller
names its own op order. The mapping is indexing, so the prior's gradient flows back into the caller's tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..spaces import Alphas, SearchSpace


class LayoutError(ValueError):
    """Alphas the prior cannot place: a wrong shape, an unknown op name, a container it does not know."""


class AlphaLayout:
    """The caller's op order for ``space`` and the conversion of its alphas to ours."""

    def __init__(self, space: SearchSpace, ops: Sequence[str] | None = None) -> None:
        self.space = space
        self.ops = tuple(space.ops if ops is None else ops)
        unknown = [o for o in self.ops if o not in space.ops]
        if unknown:
            raise LayoutError(f"ops: {unknown[0]!r} is not an op of the {space.name} space; name your columns with "
                              f"the space's ops {list(space.ops)} (in your order)")
        duplicate = sorted({o for o in self.ops if self.ops.count(o) > 1})
        missing = [o for o in space.ops if o not in self.ops]
        if duplicate or missing:
            what = f"{duplicate[0]!r} twice" if duplicate else f"no {missing[0]!r}"
            raise LayoutError(f"ops: the list has {what}; give each of the {space.name} ops {list(space.ops)} "
                              "exactly once, in the order of your alphas' columns")
        # our column k is the caller's column index[k]
        self.index = torch.tensor([self.ops.index(o) for o in space.ops])
        self.identity = self.ops == tuple(space.ops)

    @property
    def shape(self) -> tuple[int, int]:
        return self.space.alpha_shape

    def to_alphas(self, *alphas: Any) -> Alphas:
        """Our dict from two tensors, one tensor, a list, a dict or a model with the usual attribute names."""
        cells = self._cells(alphas)
        out = {}
        for cell, tensor in cells.items():
            self._check(cell, tensor)
            out[cell] = tensor if self.identity else tensor.index_select(-1, self.index.to(tensor.device))
        return out

    def caller_tensors(self, *alphas: Any) -> dict[str, torch.Tensor]:
        """The caller's own tensors, per cell type, read from any of the forms ``to_alphas`` takes."""
        cells = self._cells(alphas)
        for cell, tensor in cells.items():
            self._check(cell, tensor)
        return cells

    def describe(self) -> str:
        """What the space expects, for error messages."""
        cells = self.space.cell_types
        names = ", ".join(f"alphas_{c}" for c in cells) if len(cells) > 1 else "one tensor"
        rows = ", ".join(f"{j}<-{i}" for i, j in self.space.edges)
        return (f"{names} of shape {self.shape}: rows = the edges {rows}, columns = the ops {list(self.ops)}")

    # --- reading the caller's containers -----------------------------------------------------------------------------
    def _cells(self, args: tuple[Any, ...]) -> dict[str, torch.Tensor]:
        cell_types = self.space.cell_types
        if len(args) == 1 and not isinstance(args[0], torch.Tensor):
            return self._cells_of(args[0])
        if len(args) == len(cell_types) and all(isinstance(a, torch.Tensor) for a in args):
            return dict(zip(cell_types, args))
        raise LayoutError(f"prior got {len(args)} tensor(s) for the {self.space.name} space; pass {self.describe()}")

    def _cells_of(self, obj: Any) -> dict[str, torch.Tensor]:
        cell_types = self.space.cell_types
        if isinstance(obj, Mapping):
            keys = set(obj)
            for names in (cell_types, tuple(f"alphas_{c}" for c in cell_types)):
                if keys == set(names):
                    return {c: obj[n] for c, n in zip(cell_types, names)}
            raise LayoutError(f"prior got a dict with keys {sorted(map(str, keys))}; the {self.space.name} space "
                              f"needs the keys {list(cell_types)}")
        if isinstance(obj, (list, tuple)):
            return self._cells(tuple(obj))
        found = {c: getattr(obj, f"alphas_{c}", None) for c in cell_types}
        if all(isinstance(t, torch.Tensor) for t in found.values()):
            return found
        params = getattr(obj, "arch_parameters", None)  # AutoDL: a Parameter; original DARTS: a method
        if isinstance(params, torch.Tensor):
            return self._cells((params,))
        if callable(params):
            return self._cells(tuple(params()))
        raise LayoutError(f"prior cannot read alphas from a {type(obj).__name__}; pass {self.describe()}, a list "
                          "of them, a dict, or a model with those attributes (or arch_parameters)")

    def _check(self, cell: str, tensor: torch.Tensor) -> None:
        if tuple(tensor.shape) != self.shape:
            name = f"alphas_{cell}" if len(self.space.cell_types) > 1 else "the alphas"
            hint = "; it looks transposed: pass its .t()" if tuple(tensor.shape) == self.shape[::-1] else ""
            raise LayoutError(f"{name} has shape {tuple(tensor.shape)}, the {self.space.name} space needs "
                              f"{self.describe()}{hint}")
        if not tensor.is_floating_point():
            raise LayoutError(f"{cell} alphas are {tensor.dtype}; pass the floating-point logits")
