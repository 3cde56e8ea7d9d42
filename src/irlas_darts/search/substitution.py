"""Run a network with some of its tensors replaced, without copying it: ``torch.func.functional_call`` for a network
whose module tree stays as it is, at a fraction of the host time.

``functional_call`` walks the whole module tree on every call, to find tied weights and then each name's submodule:
on ``make search``'s supernet (719 parameters, 1,419 buffers) that walk was about a tenth of a small search step's
time, paid once per extra forward pass of the architecture step. Here the walk is done once; a call then swaps
entries of the modules' own ``_parameters`` / ``_buffers`` dicts and puts them back, as ``functional_call`` does.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import Tensor, nn

Slot = tuple[dict, str]  # a module's _parameters or _buffers dict, and the key in it


class Substitution:
    """``with Substitution(net)({name: tensor_or_None, ...}): out = net(...)`` runs ``net`` with those tensors.

    Names are ``net.named_parameters()`` / ``named_buffers()`` names; ``None`` removes a buffer for the call
    (train-mode BatchNorm then skips its running statistics). A parameter reachable under several names (tied
    weights) is replaced under all of them, as with ``functional_call``'s default (given under two of its names, the
    later value wins, where ``functional_call`` refuses different values). The tree is read on first use: a network
    whose modules are swapped out afterwards needs a new ``Substitution``.
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self._slots: dict[str, list[Slot]] | None = None

    def names(self) -> list[str]:
        return list(self._table())

    def _table(self) -> dict[str, list[Slot]]:
        if self._slots is None:
            by_name: dict[str, list[Slot]] = {}
            tied: dict[int, list[Slot]] = {}
            for prefix, module in self.net.named_modules(remove_duplicate=False):
                for store in (module._parameters, module._buffers):
                    for key, tensor in store.items():
                        name = f"{prefix}.{key}" if prefix else key
                        if name in by_name:  # a shared module seen again under another path: same dict
                            continue
                        slots = tied.setdefault(id(tensor), []) if isinstance(tensor, nn.Parameter) else []
                        slots.append((store, key))
                        by_name[name] = slots
            self._slots = by_name
        return self._slots

    @contextmanager
    def __call__(self, tensors: dict[str, Tensor | None]) -> Iterator[None]:
        table = self._table()
        saved: list[tuple[dict, str, Tensor | None]] = []
        try:
            for name, tensor in tensors.items():
                slots = table.get(name)
                if slots is None:
                    raise KeyError(f"{type(self.net).__name__} has no parameter or buffer named {name!r}")
                for store, key in slots:
                    saved.append((store, key, store[key]))
                    store[key] = tensor
            yield
        finally:
            for store, key, tensor in reversed(saved):
                store[key] = tensor
