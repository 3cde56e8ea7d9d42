"""ops/forward_mode.py: the elementary batch norm and cross entropy equal ATen's, and reverse mode through their
forward-mode tangents equals double backward (the law the default exact Hessian-vector product rests on)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import forward_ad

from irlas_darts.ops.forward_mode import (batch_norm_relu_dual, dual_batch_norm, forward_differentiable, max_pool_dual,
                                        plain_ops, weighted_batch_norm_dual)


def test_values_equal_atens_and_the_mode_ends_with_its_block():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, 4, 4, generator=gen, dtype=torch.float64)
    w, b = torch.rand(3, generator=gen, dtype=torch.float64) + 0.5, torch.randn(3, generator=gen, dtype=torch.float64)
    mean, var = torch.randn(3, generator=gen, dtype=torch.float64), torch.rand(3, generator=gen, dtype=torch.float64)
    logits, target = torch.randn(6, 4, generator=gen, dtype=torch.float64), torch.tensor([0, 3, 1, 1, 2, 0])
    want = [F.batch_norm(z, None, None, w, b, training=True), F.batch_norm(z, mean, var, w, b, training=False),
            F.batch_norm(z, None, None, training=True), F.cross_entropy(logits, target)]
    assert not plain_ops()
    with forward_differentiable():
        assert plain_ops()
        got = [F.batch_norm(z, None, None, w, b, training=True), F.batch_norm(z, mean, var, w, b, training=False),
               F.batch_norm(z, None, None, training=True), F.cross_entropy(logits, target)]
    assert not plain_ops()
    for g, want_ in zip(got, want):
        torch.testing.assert_close(g, want_, rtol=1e-12, atol=1e-12)


def test_what_it_cannot_do_exactly_is_refused():
    z = torch.randn(4, 3, 2, 2)
    with forward_differentiable():
        with pytest.raises(ValueError, match="running statistics"):
            F.batch_norm(z, torch.zeros(3), torch.ones(3), training=True)
        with pytest.raises(ValueError, match="double_backward"):
            F.cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), label_smoothing=0.1)


@pytest.mark.parametrize("affine", [False, True])
def test_reverse_over_forward_equals_double_backward(affine):
    """d/da (grad_w L . v) for L = cross_entropy(bn(conv(a * x, w))): by double backward, and as the reverse-mode
    gradient of the loss's tangent along v."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 5, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (6,), generator=gen)
    a = torch.tensor([1.3, 0.7], dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    scale = torch.rand(4, generator=gen, dtype=torch.float64) + 0.5 if affine else None

    def loss(weight):
        z = F.batch_norm(F.conv2d(a[0] * x, weight, padding=1), None, None, scale, None, training=True)
        return F.cross_entropy(F.adaptive_avg_pool2d(F.relu(z) * a[1], 1).flatten(1), y)

    g, = torch.autograd.grad(loss(w), w, create_graph=True)
    want, = torch.autograd.grad((g * v).sum(), a)
    with forward_differentiable(), forward_ad.dual_level():
        along_v = forward_ad.unpack_dual(loss(forward_ad.make_dual(w.detach(), v))).tangent
    got, = torch.autograd.grad(along_v, a)
    assert want.abs().max() > 1e-3
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


CONVS = [  # (groups, kernel, dilation, stride, channels-last): the DARTS ops' depthwise, pointwise, dilated, reducing
    (8, 3, 1, 1, False), (1, 1, 1, 1, True), (8, 5, 2, 1, True), (8, 3, 1, 2, True), (1, 1, 1, 2, False)]


def _dual_conv(x, dx, w, dw, groups, k, dilation, stride, elementary: bool):
    """Primal, tangent and the reverse gradients of a loss of both with respect to ``x`` and ``dx``; also the bytes
    autograd kept for backward."""
    x, dx = x.clone().requires_grad_(True), dx.clone().requires_grad_(True)
    kept = []

    def pack(t):
        kept.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), forward_ad.dual_level():
        args = (forward_ad.make_dual(x, dx), forward_ad.make_dual(w, dw), None, stride, dilation * (k - 1) // 2,
                dilation, groups)
        if elementary:
            with forward_differentiable():
                y = F.conv2d(*args)
        else:
            y = F.conv2d(*args)
        primal, tangent = forward_ad.unpack_dual(y)
        loss = (primal.sin() * 1.3).sum() + (tangent * tangent).sum()
    return [primal, tangent, *torch.autograd.grad(loss, [x, dx])], sum(kept)


@pytest.mark.parametrize("groups,k,dilation,stride,channels_last", CONVS)
def test_a_convolution_with_constant_weights_equals_atens_and_keeps_its_weight_not_its_input(
        groups, k, dilation, stride, channels_last):
    """The dual pass's weights are constants: its convolutions keep the weight for backward and not the input (what
    ATen's rule keeps for a weight gradient nobody takes), with the same primal, tangent and gradients."""
    gen = torch.Generator().manual_seed(groups + k + stride)
    x = torch.randn(3, 8, 10, 10, generator=gen, dtype=torch.float64)
    w = torch.randn(8, 8 // groups, k, k, generator=gen, dtype=torch.float64)
    dx, dw = torch.randn(x.shape, generator=gen, dtype=x.dtype), torch.randn(w.shape, generator=gen, dtype=w.dtype)
    if channels_last:
        x, dx, w, dw = (t.contiguous(memory_format=torch.channels_last) for t in (x, dx, w, dw))
    want, kept_aten = _dual_conv(x, dx, w, dw, groups, k, dilation, stride, elementary=False)
    got, kept_ours = _dual_conv(x, dx, w, dw, groups, k, dilation, stride, elementary=True)
    for g, want_ in zip(got, want):
        torch.testing.assert_close(g, want_, rtol=1e-12, atol=1e-12)
    x_bytes = x.numel() * x.element_size()
    assert kept_aten - kept_ours >= 2 * x_bytes  # ATen keeps x and dx (and the weights); ours the weights


def _dual_bn(z, dz, w, relu: bool, fused: bool):
    """Primal, tangent and the reverse gradients (to ``z``, ``dz``, ``w``) of a loss of both, of ``w * bn(z)`` or
    ``relu(bn(z))`` in the dual pass, by the fused node or the elementary form; also the bytes kept for backward."""
    z, dz = z.clone().requires_grad_(True), dz.clone().requires_grad_(True)
    w = None if w is None else w.clone().requires_grad_(True)
    bn = torch.nn.BatchNorm2d(z.shape[1], affine=False, track_running_stats=False).double()
    kept = []

    def pack(t):
        kept.append(t.numel() * t.element_size())
        return t

    with forward_differentiable(), forward_ad.dual_level():
        dual = forward_ad.make_dual(z, dz)
        assert dual_batch_norm(bn)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            if relu:
                y = batch_norm_relu_dual(dual, bn) if fused else F.relu(bn(dual))
            else:
                y = weighted_batch_norm_dual(dual, w, bn) if fused else w * bn(dual)
        primal, tangent = forward_ad.unpack_dual(y)
    loss = (primal.sin() * 1.3).sum() + (tangent * tangent.cos()).sum()
    inputs = [z, dz] + ([] if w is None else [w])
    return [primal, tangent, *torch.autograd.grad(loss, inputs)], sum(kept)


@pytest.mark.parametrize("relu", [False, True])
def test_the_dual_batch_norm_node_equals_the_elementary_form_and_keeps_two_activations(relu):
    """The dual pass's ``w * bn(z)`` (an op's end and its edge weight) and ``relu(bn(z))`` (a separable conv's
    middle) as one node: the same primal, tangent and gradients to ``z``, ``z'`` and ``w`` as the elementary form,
    keeping ``x_hat`` and ``x_hat'`` where the elementary form's nodes keep four distinct activations (eleven
    saves)."""
    gen = torch.Generator().manual_seed(7)
    z = (torch.randn(4, 6, 5, 5, generator=gen, dtype=torch.float64) * 2 + 1).contiguous(
        memory_format=torch.channels_last)
    dz = torch.randn(z.shape, generator=gen, dtype=z.dtype)
    w = None if relu else torch.tensor(0.37, dtype=torch.float64)
    want, kept_elementary = _dual_bn(z, dz, w, relu, fused=False)
    got, kept_fused = _dual_bn(z, dz, w, relu, fused=True)
    for g, want_ in zip(got, want):
        assert g.abs().max() > 1e-3
        torch.testing.assert_close(g, want_, rtol=1e-10, atol=1e-12)
    z_bytes = z.numel() * z.element_size()
    assert kept_fused < 2.1 * z_bytes
    assert kept_elementary >= 4 * z_bytes


def test_the_dual_batch_norm_node_is_only_for_a_plain_batch_statistics_batch_norm_in_the_dual_pass():
    plain = torch.nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert not dual_batch_norm(plain)  # outside forward_differentiable()
    with forward_differentiable():
        assert dual_batch_norm(plain)
        assert not dual_batch_norm(torch.nn.BatchNorm2d(3, affine=True, track_running_stats=False))
        assert not dual_batch_norm(torch.nn.BatchNorm2d(3, affine=False))  # running statistics to update
        assert not dual_batch_norm(plain.eval())
        assert not dual_batch_norm(type("Global", (torch.nn.BatchNorm2d,), {})(3, affine=False,
                                                                               track_running_stats=False))


@pytest.mark.parametrize("stride,channels_last", [(1, True), (2, True), (1, False)])
def test_the_dual_max_pool_equals_atens_rule_and_keeps_its_input_not_indices(stride, channels_last):
    """DARTS' max pooling in the dual pass: ATen's forward-mode rule (the tangent at the argmax) and its gradients to
    ``x`` and ``x'``, keeping ``x`` (kept anyway: the edge's average pooling keeps it) instead of int64 indices."""
    gen = torch.Generator().manual_seed(stride)
    x = torch.randn(3, 4, 8, 8, generator=gen, dtype=torch.float64)
    dx = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    if channels_last:
        x, dx = (t.contiguous(memory_format=torch.channels_last) for t in (x, dx))

    def run(node: bool):
        xs, dxs = x.clone().requires_grad_(True), dx.clone().requires_grad_(True)
        kept = []

        def pack(t):
            kept.append(t.numel() * t.element_size() if t.dtype != torch.int64 else -1)
            return t

        with forward_ad.dual_level():
            dual = forward_ad.make_dual(xs, dxs)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                y = max_pool_dual(dual, stride) if node else F.max_pool2d(dual, 3, stride, 1)
            primal, tangent = forward_ad.unpack_dual(y)
        loss = (primal.sin() * 1.3).sum() + (tangent * tangent.cos()).sum()
        return [primal, tangent, *torch.autograd.grad(loss, [xs, dxs])], kept

    want, kept_aten = run(node=False)
    got, kept_node = run(node=True)
    for g, want_ in zip(got, want):
        torch.testing.assert_close(g, want_, rtol=1e-12, atol=1e-12)
    assert -1 in kept_aten and -1 not in kept_node  # ATen keeps int64 indices, the node none
    assert kept_node == [x.numel() * x.element_size()]  # only x
