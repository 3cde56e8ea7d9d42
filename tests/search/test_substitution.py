"""``Substitution``: ``functional_call`` without the per-call walk of the module tree, and the same results."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from irlas_darts.search.architect import Architect
from irlas_darts.search.architecture import Architecture
from irlas_darts.search.substitution import Substitution
from irlas_darts.search.supernet import create_supernet
from irlas_darts.spaces import create_space


def _supernet(space: str = "nb201"):
    torch.manual_seed(0)
    sp = create_space(space)
    net = create_supernet(sp, in_channels=3, num_classes=4, C=4, layers=3 if space == "nb201" else 2)
    arch = Architecture(sp, generator=torch.Generator().manual_seed(0))
    return net, arch


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(net.named_parameters()), **dict(net.named_buffers())}


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_the_output_is_functional_calls_and_the_network_is_left_as_it_was(space):
    net, arch = _supernet(space)
    x, probs = torch.randn(6, 3, 8, 8), arch.probs()
    weights = {n: p.detach() + 0.01 * torch.randn_like(p) for n, p in net.named_parameters()}
    buffers = {n: b.clone() for n, b in net.named_buffers()}
    before = {n: (t, t.detach().clone()) for n, t in _state(net).items()}

    want = functional_call(net, {**buffers, **weights}, (x, probs))
    with Substitution(net)({**dict.fromkeys(buffers), **weights}):
        got = net(x, probs)
    # train-mode BatchNorm without buffers normalises with the batch's statistics, as with copies of them
    assert torch.equal(got, want)
    after = _state(net)
    assert set(after) == set(before)
    for name, (obj, value) in before.items():
        assert after[name] is obj, name  # the very same tensors are back in place
        assert torch.equal(obj, value), name  # and unchanged: no running statistics were updated


def test_a_failing_call_puts_everything_back_and_an_unknown_name_is_named():
    net, arch = _supernet()
    before = _state(net)
    sub = Substitution(net)
    with pytest.raises(RuntimeError, match="inside"):
        with sub({n: torch.zeros_like(p) for n, p in net.named_parameters()}):
            raise RuntimeError("inside")
    with pytest.raises(KeyError, match="stem.0.wieght"):
        with sub({"stem.0.weight": torch.zeros(1), "stem.0.wieght": torch.zeros(1)}):
            pass
    after = _state(net)
    assert all(after[n] is t for n, t in before.items())
    assert "stem.0.wieght" not in sub.names() and "stem.0.weight" in sub.names()


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3, bias=False)
        self.b = nn.Linear(3, 3, bias=False)
        self.b.weight = self.a.weight
        self.shared = nn.Linear(3, 3)
        self.again = self.shared  # one module under two paths

    def forward(self, x):
        return self.again(self.b(self.a(x)))


def test_tied_weights_are_replaced_under_every_name_as_functional_call_does():
    net = _Tied()
    x = torch.randn(2, 3)
    new = {"a.weight": torch.randn(3, 3), "shared.bias": torch.randn(3)}
    with Substitution(net)(new):
        got = net(x)
    assert torch.equal(got, functional_call(net, new, (x,)))
    assert not torch.equal(got, net(x))


def test_an_eval_mode_network_keeps_its_running_statistics_in_the_architecture_step():
    """Only train-mode BatchNorms run without buffers; in eval mode they normalise with (copies of) their own."""
    net, arch = _supernet()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    x, y = torch.randn(6, 3, 8, 8), torch.randint(0, 4, (6,))
    before = {n: b.clone() for n, b in net.named_buffers()}
    grads, _ = Architect(net, arch, None).alpha_gradient(None, None, x, y, lr_w=0.1)
    weights = {n: p.detach() for n, p in net.named_parameters()}
    loss = torch.nn.functional.cross_entropy(functional_call(net, {**before, **weights}, (x, arch.probs())), y)
    want = torch.autograd.grad(loss, list(arch.alphas.values()))
    for g, w in zip(grads.values(), want):
        torch.testing.assert_close(g, w)
    assert all(torch.equal(b, before[n]) for n, b in net.named_buffers())
