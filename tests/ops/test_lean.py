"""The lean primitives compute what the plain modules compute, and their gradients are right.

Outputs, gradients and BatchNorm running statistics against the plain modules; gradients (and, where promised,
second derivatives) against finite differences with ``gradcheck`` in float64.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import gradcheck, gradgradcheck

from irlas_darts.ops import create_op, lean
from irlas_darts.ops.lean import (
    MaxPool3x3, bn_relu_depthwise, lean_enabled, phase_depthwise_conv, twice_differentiable, weighted_batch_norm,
)

D = torch.float64


def dilated(C: int, k: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(C, C, k, stride=stride, padding=k - 1, dilation=2, groups=C, bias=False).to(D)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("size", [(8, 8), (6, 10), (7, 9), (5, 8)])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", [3, 5])
def test_phase_conv_equals_the_dilated_conv(k, stride, size, channels_last):
    torch.manual_seed(0)
    conv = dilated(3, k, stride)
    x = torch.randn(2, 3, *size, dtype=D)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn_like(conv(x))
    y1, y2 = conv(x1), phase_depthwise_conv(x2, conv)
    torch.testing.assert_close(y2, y1, rtol=1e-12, atol=1e-12)
    w1, = torch.autograd.grad((y1 * g).sum(), [conv.weight], retain_graph=False)
    w2, x2g = torch.autograd.grad((y2 * g).sum(), [conv.weight, x2])
    x1g, = torch.autograd.grad((conv(x1) * g).sum(), [x1])
    torch.testing.assert_close(w2, w1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x2g, x1g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_off_the_cpu_the_dilated_conv_runs_as_it_is(stride):
    """The phase form is a CPU optimisation; on another device (here "meta": shapes and autograd, no kernels) the
    plain dilated conv runs, one kernel per call where the phase form launches several."""
    conv = dilated(3, 5, stride).to("meta")
    x = torch.empty(2, 3, 8, 8, dtype=D, device="meta", requires_grad=True)
    y = phase_depthwise_conv(x, conv)
    assert y.shape == conv(x).shape and y.grad_fn.name() == "ConvolutionBackward0"
    cpu = phase_depthwise_conv(torch.randn(2, 3, 8, 8, dtype=D, requires_grad=True), dilated(3, 5, stride))
    if stride == 1:  # on the CPU the phase form runs: its own node, or (stride 2) the plain conv of phase (0, 0)
        assert cpu.grad_fn.name() == "_PhaseDepthwiseBackward"
    else:
        assert cpu.grad_fn.next_functions[0][0].name() == "SliceBackward0"


@pytest.mark.parametrize("k", [3, 5])
def test_phase_conv_is_twice_differentiable(k):
    torch.manual_seed(0)
    conv = dilated(2, k, 1)
    x = torch.randn(2, 2, 6, 8, dtype=D, requires_grad=True)
    w = conv.weight.detach().clone().requires_grad_()
    f = lambda x, w: phase_depthwise_conv(x, _WithWeight(conv, w))  # noqa: E731
    assert gradcheck(f, (x, w))
    assert gradgradcheck(f, (x, w))


@pytest.mark.parametrize("k, size, phases", [(5, 2, True), (5, 8, True), (3, 2, False), (3, 8, False)])
def test_in_the_dual_pass_the_phases_run_for_the_5x5_kernel(k, size, phases, monkeypatch):
    """Inside the forward-mode pass (``forward_differentiable``) the phase form runs as plain ops for the 5x5 kernel
    only (where it pays there); either way the primal, the tangent and the gradient of the tangent equal those of
    the dilated conv."""
    from torch.autograd import forward_ad

    from irlas_darts.ops.forward_mode import forward_differentiable

    torch.manual_seed(0)
    conv = dilated(4, k, 1)
    v = torch.randn_like(conv.weight)
    x = torch.randn(3, 4, size, size, dtype=D)
    g = torch.randn(3, 4, size, size, dtype=D)

    def tangent_of(form):
        xi = x.clone().requires_grad_()
        with twice_differentiable(), forward_differentiable(), forward_ad.dual_level():
            out = form(xi, _WithWeight(conv, forward_ad.make_dual(conv.weight.detach(), v)))
            primal, tangent = forward_ad.unpack_dual(out)
        return (primal, tangent, *torch.autograd.grad((tangent * g).sum(), [xi]))

    ran = []
    original = lean._phase_conv
    monkeypatch.setattr(lean, "_phase_conv", lambda *a: ran.append(1) or original(*a))
    ours = tangent_of(phase_depthwise_conv)
    monkeypatch.undo()
    assert bool(ran) is phases
    for a, b in zip(ours, tangent_of(lambda xi, c: c(xi))):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


class _WithWeight:
    """A conv-like view of ``conv`` whose weight is a given (differentiable) tensor, for gradcheck."""

    def __init__(self, conv: nn.Conv2d, weight: torch.Tensor) -> None:
        self.kernel_size, self.dilation, self.stride = conv.kernel_size, conv.dilation, conv.stride
        self.padding, self.groups, self.out_channels, self.weight = conv.padding, conv.groups, conv.out_channels, weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding, dilation=self.dilation,
                        groups=self.groups)


@pytest.mark.parametrize("stride", [1, 2])
def test_lean_max_pool_matches_max_pool_and_is_twice_differentiable(stride):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 8, dtype=D, requires_grad=True)
    pool = MaxPool3x3(stride)
    torch.testing.assert_close(pool(x), nn.MaxPool2d(3, stride, 1)(x), rtol=0, atol=0)
    assert gradcheck(pool, (x,))
    assert gradgradcheck(pool, (x,))


def _bn_pair(C: int, training: bool, momentum: float | None = 0.1) -> tuple[nn.BatchNorm2d, nn.BatchNorm2d]:
    a = nn.BatchNorm2d(C, affine=False, momentum=momentum).to(D)
    a.running_mean.normal_()
    a.running_var.uniform_(0.5, 2.0)
    b = nn.BatchNorm2d(C, affine=False, momentum=momentum).to(D)
    b.load_state_dict(a.state_dict())
    return a.train(training), b.train(training)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_weighted_batch_norm_equals_weight_times_bn(training, channels_last, momentum):
    torch.manual_seed(0)
    plain, lean = _bn_pair(4, training, momentum)
    z = torch.randn(3, 4, 5, 6, dtype=D) * 3 + 1
    if channels_last:
        z = z.contiguous(memory_format=torch.channels_last)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    w1 = torch.tensor(0.7, dtype=D, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_()
    g = torch.randn(3, 4, 5, 6, dtype=D)
    for _ in range(2):  # twice: the running statistics and the batch counter move alike
        y1, y2 = w1 * plain(z1), weighted_batch_norm(z2, w2, lean)
    torch.testing.assert_close(y2, y1, rtol=1e-12, atol=1e-12)
    got = torch.autograd.grad((y2 * g).sum(), [z2, w2])
    want = torch.autograd.grad((y1 * g).sum(), [z1, w1])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert torch.equal(lean.num_batches_tracked, plain.num_batches_tracked)
    torch.testing.assert_close(lean.running_mean, plain.running_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lean.running_var, plain.running_var, rtol=1e-12, atol=1e-12)


def test_weighted_batch_norm_gradients_against_finite_differences():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3, affine=False, track_running_stats=False).to(D)
    z = torch.randn(2, 3, 4, 4, dtype=D, requires_grad=True)
    w = torch.tensor(1.3, dtype=D, requires_grad=True)
    assert gradcheck(lambda z, w: weighted_batch_norm(z, w, bn), (z, w))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("k", [3, 5])
def test_bn_relu_depthwise_equals_the_plain_modules(k, training):
    torch.manual_seed(0)
    plain, lean = _bn_pair(3, training)
    conv = nn.Conv2d(3, 3, k, padding=(k - 1) // 2, groups=3, bias=False).to(D)
    z = torch.randn(2, 3, 6, 6, dtype=D).contiguous(memory_format=torch.channels_last)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    y1, y2 = conv(F.relu(plain(z1))), bn_relu_depthwise(z2, lean, conv)
    torch.testing.assert_close(y2, y1, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y1)
    got = torch.autograd.grad((y2 * g).sum(), [z2, conv.weight])
    want = torch.autograd.grad((y1 * g).sum(), [z1, conv.weight])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(lean.running_var, plain.running_var, rtol=1e-12, atol=1e-12)


def test_lean_nodes_refuse_affine_batch_norm_and_strided_convs():
    z = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="affine=False"):
        weighted_batch_norm(z, torch.tensor(1.0), nn.BatchNorm2d(3))
    with pytest.raises(ValueError, match="stride-1"):
        bn_relu_depthwise(z, nn.BatchNorm2d(3, affine=False), nn.Conv2d(3, 3, 3, stride=2, groups=3, bias=False))


def test_twice_differentiable_switches_the_lean_nodes_off_and_back():
    assert lean_enabled()
    with twice_differentiable():
        assert not lean_enabled()
        with twice_differentiable():
            assert not lean_enabled()
        assert not lean_enabled()
    assert lean_enabled()


def test_sep_conv_body_is_the_same_lean_or_plain():
    torch.manual_seed(0)
    op = create_op("darts", "sep_conv_5x5", 4, 1, affine=False).to(D)
    x = torch.randn(2, 4, 8, 8, dtype=D, requires_grad=True)
    g = torch.randn(2, 4, 8, 8, dtype=D)
    lean_y = op(x)
    lean_grads = torch.autograd.grad((lean_y * g).sum(), [x, *op.parameters()])
    with twice_differentiable():
        plain_y = op(x)
        plain_grads = torch.autograd.grad((plain_y * g).sum(), [x, *op.parameters()])
    torch.testing.assert_close(lean_y, plain_y, rtol=1e-12, atol=1e-12)
    for a, b in zip(lean_grads, plain_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
