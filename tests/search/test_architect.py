"""The architecture step: first order, unrolled second order (exact and finite-difference Hessian-vector product).

Tiny supernets of our own (a stem, a chain of mixed layers per cell type, a linear head) stand in for the real ones:
the Architect only relies on the ``net(x, probs)`` signature.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from irlas_darts.search.architect import Architect
from irlas_darts.ops.lean import twice_differentiable
from irlas_darts.search.architecture import Architecture
from irlas_darts.search.supernet import create_supernet
from irlas_darts.spaces import create_space


class Mixed(nn.Module):
    def __init__(self, ops: tuple[str, ...], C: int, smooth: bool) -> None:
        super().__init__()
        act = nn.Softplus() if smooth else nn.ReLU()
        built = []
        for op in ops:
            if op == "none":
                built.append(None)
            elif op == "skip_connect":
                built.append(nn.Identity())
            elif "pool" in op:
                max_pool = op.startswith("max") and not smooth
                built.append(nn.MaxPool2d(3, 1, 1) if max_pool else nn.AvgPool2d(3, 1, 1, count_include_pad=False))
            else:
                conv = nn.Conv2d(C, C, 3, padding=1, bias=False)
                built.append(nn.Sequential(conv, nn.BatchNorm2d(C, affine=False), act))
        self.ops = nn.ModuleList([m if m is not None else nn.Identity() for m in built])
        self.active = [m is not None for m in built]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return sum(w[i] * op(x) for i, op in enumerate(self.ops) if self.active[i])


class TinyNet(nn.Module):
    """Per cell type, a chain of mixed layers; layer l is weighted by row l of ``probs[cell]``."""

    def __init__(self, space, C: int = 3, n_classes: int = 3, layers: int = 2, smooth: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, C, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(C)  # affine: parameters and running statistics
        self.act = nn.Softplus() if smooth else nn.ReLU()
        self.cells = nn.ModuleDict(
            {cell: nn.ModuleList([Mixed(space.ops, C, smooth) for _ in range(layers)]) for cell in space.cell_types}
        )
        self.head = nn.Linear(C, n_classes)

    def forward(self, x: torch.Tensor, probs: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.act(self.bn(self.stem(x)))
        for cell, layers in self.cells.items():
            for l, layer in enumerate(layers):
                x = layer(x, probs[cell][l])
        return self.head(x.mean(dim=(2, 3)))


def make(space_name="nb201", smooth=True, dtype=torch.float64, momentum=0.9, wd=1e-2, buffers=True, seed=0, **kw):
    torch.manual_seed(seed)
    space = create_space(space_name)
    net = TinyNet(space, smooth=smooth).to(dtype)
    arch = Architecture(space, generator=torch.Generator().manual_seed(seed), scale=0.5).to(dtype)
    w_opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=momentum, weight_decay=wd)
    if buffers:
        for p in net.parameters():
            w_opt.state[p]["momentum_buffer"] = 0.1 * torch.randn_like(p)
    batches = (torch.randn(4, 2, 5, 5, dtype=dtype), torch.randint(0, 3, (4,)),
               torch.randn(4, 2, 5, 5, dtype=dtype), torch.randint(0, 3, (4,)))
    return net, arch, w_opt, batches


def square_penalty(alphas):
    return 0.3 * sum((a**2).sum() for a in alphas.values())


def flat(d: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in d.values()])


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def explicit_unrolled_gradient(net, arch, w_opt, batches, lr_w, penalty=None):
    """Autograd through w'(alpha) = w - xi (m buf + g(w, alpha) + wd w), then L_val(w'(alpha), alpha)."""
    xt, yt, xv, yv = batches
    names, params = zip(*net.named_parameters())
    bufs = {n: b.clone() for n, b in net.named_buffers()}
    alphas = {c: a.detach().clone().requires_grad_(True) for c, a in arch.alphas.items()}
    w = [p.detach().clone().requires_grad_(True) for p in params]
    probs = lambda: {c: a.softmax(-1) for c, a in alphas.items()}  # noqa: E731
    train = F.cross_entropy(functional_call(net, {**bufs, **dict(zip(names, w))}, (xt, probs())), yt)
    g = torch.autograd.grad(train, w, create_graph=True)
    group = w_opt.param_groups[0]
    m, wd = group["momentum"], group["weight_decay"]
    w1 = []
    for p, wi, gi in zip(params, w, g):
        buf = w_opt.state[p].get("momentum_buffer")
        buf = torch.zeros_like(wi) if buf is None else buf
        w1.append(wi - lr_w * (m * buf + gi + wd * wi))
    val = F.cross_entropy(functional_call(net, {**bufs, **dict(zip(names, w1))}, (xv, probs())), yv)
    if penalty is not None:
        val = val + penalty(alphas)
    grads = torch.autograd.grad(val, list(alphas.values()))
    return dict(zip(alphas, grads))


@pytest.mark.parametrize("hvp", ["exact", "double_backward", "jvp"])  # reverse over forward; forward over reverse
@pytest.mark.parametrize("space_name", ["nb201", "darts"])
@pytest.mark.parametrize("smooth", [True, False])
def test_second_order_exact_equals_autograd_through_explicit_unroll(space_name, smooth, hvp):
    net, arch, w_opt, batches = make(space_name, smooth=smooth)
    assert all("momentum_buffer" in w_opt.state[p] for p in net.parameters())
    architect = Architect(net, arch, w_opt, order="second", hvp=hvp)
    got, _ = architect.alpha_gradient(*batches, lr_w=0.5, penalty=square_penalty)
    want = explicit_unrolled_gradient(net, arch, w_opt, batches, 0.5, penalty=square_penalty)
    assert set(got) == set(arch.alphas.keys())
    for cell in want:
        assert got[cell].shape == want[cell].shape
        torch.testing.assert_close(got[cell], want[cell], rtol=1e-9, atol=1e-12)
    # the unrolled term matters here, so the comparison is not just a first-order one
    first, _ = Architect(net, arch, w_opt, order="first").alpha_gradient(*batches, lr_w=0.5, penalty=square_penalty)
    assert rel_err(flat(first), flat(want)) > 1e-3


def test_second_order_without_momentum_buffer_treats_it_as_zero():
    net, arch, w_opt, batches = make(buffers=False)
    got, _ = Architect(net, arch, w_opt, order="second").alpha_gradient(*batches, lr_w=0.3)
    want = explicit_unrolled_gradient(net, arch, w_opt, batches, 0.3)
    torch.testing.assert_close(flat(got), flat(want), rtol=1e-9, atol=1e-12)


def test_exact_and_finite_difference_hvp_agree_on_smooth_model():
    net, arch, w_opt, batches = make(smooth=True)
    xt, yt = batches[:2]
    exact = Architect(net, arch, w_opt, order="second", hvp="exact")
    fd = Architect(net, arch, w_opt, order="second", hvp="finite_difference")
    v = {n: torch.randn_like(p) for n, p in net.named_parameters()}
    h_exact, h_fd = flat(exact.mixed_hvp(xt, yt, v)), flat(fd.mixed_hvp(xt, yt, v))
    assert h_exact.norm() > 0
    assert rel_err(h_fd, h_exact) < 1e-2
    # and so do the whole second-order gradients, measured against the size of the unrolled term
    g_exact, _ = exact.alpha_gradient(*batches, lr_w=0.5)
    g_fd, _ = fd.alpha_gradient(*batches, lr_w=0.5)
    g_first, _ = Architect(net, arch, w_opt, order="first").alpha_gradient(*batches, lr_w=0.5)
    unrolled_term = flat(g_exact) - flat(g_first)
    assert (flat(g_fd) - flat(g_exact)).norm() < 1e-2 * unrolled_term.norm()


def test_finite_difference_hvp_of_zero_vector_is_zero():
    net, arch, w_opt, batches = make()
    fd = Architect(net, arch, w_opt, order="second", hvp="finite_difference")
    h = fd.mixed_hvp(*batches[:2], {n: torch.zeros_like(p) for n, p in net.named_parameters()})
    assert torch.equal(flat(h), torch.zeros_like(flat(h)))


@pytest.mark.parametrize(
    "momentum,dampening,nesterov,wd,maximize,buffers",
    [(0.9, 0.0, False, 3e-4, False, True), (0.9, 0.0, False, 3e-4, False, False), (0.0, 0.0, False, 1e-2, False, False),
     (0.8, 0.3, False, 1e-3, False, True), (0.9, 0.0, True, 1e-3, False, True), (0.9, 0.0, False, 1e-3, True, True)],
)
def test_unrolled_weights_are_where_sgd_steps(momentum, dampening, nesterov, wd, maximize, buffers):
    net, arch, _, batches = make()
    w_opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=momentum, dampening=dampening, nesterov=nesterov,
                            weight_decay=wd, maximize=maximize)
    if buffers:
        for p in net.parameters():
            w_opt.state[p]["momentum_buffer"] = 0.1 * torch.randn_like(p)
    unrolled = Architect(net, arch, w_opt, order="second").unrolled_weights(*batches[:2], lr_w=0.05)
    net2 = copy.deepcopy(net)
    opt2 = torch.optim.SGD(net2.parameters(), lr=0.05)
    opt2.load_state_dict(w_opt.state_dict())
    F.cross_entropy(net2(batches[0], {c: p.detach() for c, p in arch.probs().items()}), batches[1]).backward()
    opt2.step()
    for name, p in net2.named_parameters():
        torch.testing.assert_close(unrolled[name], p.detach(), rtol=1e-10, atol=1e-12)
    assert any(not torch.equal(unrolled[n], p) for n, p in net.named_parameters())


def test_unrolled_weights_per_parameter_group_with_some_buffers_missing_are_where_sgd_steps():
    """Two groups with their own momentum, dampening, Nesterov and decay; half the weights without a buffer yet."""
    net, arch, _, batches = make()
    params = list(net.parameters())
    w_opt = torch.optim.SGD([{"params": params[::2], "momentum": 0.9, "weight_decay": 1e-3, "nesterov": True},
                             {"params": params[1::2], "momentum": 0.5, "dampening": 0.2, "weight_decay": 0.0}],
                            lr=0.05)
    for p in params[:3]:
        w_opt.state[p]["momentum_buffer"] = 0.1 * torch.randn_like(p)
    unrolled = Architect(net, arch, w_opt, order="second").unrolled_weights(*batches[:2], lr_w=0.05)
    net2 = copy.deepcopy(net)
    params2 = list(net2.parameters())
    opt2 = torch.optim.SGD([{"params": params2[::2]}, {"params": params2[1::2]}], lr=0.05)
    opt2.load_state_dict(w_opt.state_dict())
    F.cross_entropy(net2(batches[0], {c: p.detach() for c, p in arch.probs().items()}), batches[1]).backward()
    opt2.step()
    for name, p in net2.named_parameters():
        torch.testing.assert_close(unrolled[name], p.detach(), rtol=1e-10, atol=1e-12)


def test_only_weights_owned_by_the_weight_optimizer_are_unrolled():
    net, arch, _, batches = make()
    w_opt = torch.optim.SGD(net.head.parameters(), lr=0.1, momentum=0.9)
    unrolled = Architect(net, arch, w_opt, order="second").unrolled_weights(*batches[:2], lr_w=0.1)
    assert set(unrolled) == {"head.weight", "head.bias"}


@pytest.mark.parametrize("order", ["first", "second"])
def test_penalty_gradient_is_added(order):
    net, arch, w_opt, batches = make()
    architect = Architect(net, arch, w_opt, order=order)
    plain, s0 = architect.alpha_gradient(*batches, lr_w=0.1)
    pen, s1 = architect.alpha_gradient(*batches, lr_w=0.1, penalty=square_penalty)
    for cell, a in arch.alphas.items():
        torch.testing.assert_close(pen[cell] - plain[cell], 0.6 * a.detach(), rtol=1e-9, atol=1e-12)
    assert torch.equal(s0["penalty"], torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(s1["penalty"], square_penalty(arch.as_dict()).detach())
    torch.testing.assert_close(s1["arch_loss"], s1["val_loss"] + s1["penalty"])
    for stats in (s0, s1):
        assert set(stats) == {"val_loss", "penalty", "arch_loss"}
        assert all(t.dim() == 0 and not t.requires_grad for t in stats.values())


def test_first_order_gradient_is_plain_autograd_of_val_loss():
    net, arch, w_opt, batches = make("darts")
    got, stats = Architect(net, arch, w_opt, order="first").alpha_gradient(None, None, *batches[2:], lr_w=0.1)
    loss = F.cross_entropy(net(batches[2], arch.probs()), batches[3])
    want = torch.autograd.grad(loss, list(arch.alphas.values()))
    torch.testing.assert_close(flat(got), torch.cat([g.reshape(-1) for g in want]), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(stats["val_loss"], loss.detach())


@pytest.mark.parametrize("order,hvp", [("first", "exact"), ("second", "exact"), ("second", "double_backward"),
                                       ("second", "jvp"), ("second", "finite_difference")])
def test_step_moves_alphas_by_adam_and_leaves_network_untouched(order, hvp):
    net, arch, w_opt, batches = make(dtype=torch.float32)
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    for a in arch.alphas.values():
        a.grad = torch.full_like(a, 1e3)  # stale gradient (e.g. from the weight step): must be replaced
    weights = {n: p.detach().clone() for n, p in net.named_parameters()}
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    bufs = {n: b.clone() for n, b in net.named_buffers()}
    momenta = {n: w_opt.state[p]["momentum_buffer"].clone() for n, p in net.named_parameters()}
    alphas0 = {c: a.detach().clone() for c, a in arch.alphas.items()}

    architect = Architect(net, arch, w_opt, order=order, hvp=hvp, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    expected_grad, _ = architect.alpha_gradient(*batches, lr_w=0.1, penalty=square_penalty)
    reference = copy.deepcopy(arch)
    adam = torch.optim.Adam(reference.parameters(), lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    for c, a in reference.alphas.items():
        a.grad = expected_grad[c]
    adam.step()

    stats = architect.step(*batches, lr_w=0.1, penalty=square_penalty)
    assert set(stats) == {"val_loss", "penalty", "arch_loss"}
    for c, a in arch.alphas.items():
        assert not torch.equal(a.detach(), alphas0[c])
        torch.testing.assert_close(a.detach(), reference.alphas[c].detach(), rtol=1e-5, atol=1e-7)
    for n, p in net.named_parameters():
        assert torch.equal(p.detach(), weights[n]), n
        assert torch.equal(p.grad, grads[n]), n
        assert torch.equal(w_opt.state[p]["momentum_buffer"], momenta[n]), n
    for n, b in net.named_buffers():
        assert torch.equal(b, bufs[n]), n


def test_state_dict_round_trip_resumes_adam_exactly():
    net, arch, w_opt, batches = make(dtype=torch.float32)
    architect = Architect(net, arch, w_opt, order="second", lr=1e-2)
    for _ in range(3):
        architect.step(*batches, lr_w=0.1)
    resumed_arch, fresh_arch = copy.deepcopy(arch), copy.deepcopy(arch)
    resumed = Architect(net, resumed_arch, w_opt, order="second", lr=1e-2)
    resumed.load_state_dict(copy.deepcopy(architect.state_dict()))
    fresh = Architect(net, fresh_arch, w_opt, order="second", lr=1e-2)
    for a in (architect, resumed, fresh):
        a.step(*batches, lr_w=0.1)
    assert torch.equal(flat(resumed_arch.as_dict()), flat(arch.as_dict()))
    assert not torch.allclose(flat(fresh_arch.as_dict()), flat(arch.as_dict()))


def test_bad_settings_fail_with_one_line_errors():
    net, arch, w_opt, batches = make()
    with pytest.raises(ValueError, match="order"):
        Architect(net, arch, w_opt, order="third")
    with pytest.raises(ValueError, match="hvp"):
        Architect(net, arch, w_opt, order="second", hvp="approx")
    with pytest.raises(ValueError, match="SGD"):
        Architect(net, arch, torch.optim.Adam(net.parameters()), order="second")
    with pytest.raises(ValueError, match="x_train"):
        Architect(net, arch, w_opt, order="second").alpha_gradient(None, None, *batches[2:], lr_w=0.1)
    with pytest.raises(ValueError, match="order='second'"):
        Architect(net, arch, w_opt).unrolled_weights(*batches[:2], lr_w=0.1)


@pytest.mark.parametrize("hvp", ["exact", "exact_recompute", "double_backward", "jvp"])
@pytest.mark.parametrize("space_name", ["darts", "nb201"])
def test_second_order_exact_on_the_real_supernet_equals_autograd_through_explicit_unroll(space_name, hvp):
    """The supernet's lean nodes (differentiable once) in the unrolled and validation passes, the plain modules in
    the Hessian-vector product (with elementary batch norm and cross entropy in the reverse-over-forward one):
    together still the autograd gradient through the unrolled step."""
    torch.manual_seed(0)
    space = create_space(space_name)
    net = create_supernet(space, in_channels=2, num_classes=3, C=4, layers=3, channels_last=True).double()
    arch = Architecture(space, generator=torch.Generator().manual_seed(0), scale=0.5).double()
    w_opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    for p in net.parameters():
        w_opt.state[p]["momentum_buffer"] = 0.1 * torch.randn_like(p)
    batches = (torch.randn(4, 2, 8, 8, dtype=torch.float64), torch.randint(0, 3, (4,)),
               torch.randn(4, 2, 8, 8, dtype=torch.float64), torch.randint(0, 3, (4,)))
    got, _ = Architect(net, arch, w_opt, order="second", hvp=hvp).alpha_gradient(*batches, lr_w=0.5)
    with twice_differentiable():
        want = explicit_unrolled_gradient(net, arch, w_opt, batches, 0.5)
    torch.testing.assert_close(flat(got), flat(want), rtol=1e-7, atol=1e-10)
    first, _ = Architect(net, arch, w_opt, order="first").alpha_gradient(*batches, lr_w=0.5)
    assert rel_err(flat(first), flat(want)) > 1e-4


def test_the_recomputing_product_names_the_double_backward_option_for_an_op_without_a_forward_mode_rule():
    torch.manual_seed(0)
    space = create_space("nb201")
    net = create_supernet(space, in_channels=2, num_classes=3, C=4, layers=3)
    net.stem = _Doubled(net.stem)
    arch = Architecture(space, generator=torch.Generator().manual_seed(0))
    w_opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    v = {n: torch.randn_like(p) for n, p in net.named_parameters()}
    x, y = torch.randn(4, 2, 8, 8), torch.randint(0, 3, (4,))
    with pytest.raises(NotImplementedError, match="search.hvp=exact_recompute .*search.hvp=double_backward"):
        Architect(net, arch, w_opt, order="second", hvp="exact_recompute").mixed_hvp(x, y, v)


class _Doubling(torch.autograd.Function):
    """A plug-in's custom op without a forward-mode (jvp) rule."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return 2 * g


class _Doubled(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return _Doubling.apply(self.inner(x))


def test_the_recomputing_product_needs_a_supernet_with_stages():
    net, arch, w_opt, batches = make()  # a toy network: no stages(probs)
    v = {n: torch.randn_like(p) for n, p in net.named_parameters()}
    with pytest.raises(ValueError, match="search.hvp=exact_recompute needs a supernet with stages.*use search.hvp=exact"):
        Architect(net, arch, w_opt, order="second", hvp="exact_recompute").mixed_hvp(*batches[:2], v)


def test_an_op_without_a_forward_mode_rule_names_the_double_backward_option():
    """The default product runs the network in forward mode; a custom op that cannot is refused with the fix, and
    double backward computes the product on the same network."""
    net, arch, _, batches = make()
    net.stem = _Doubled(net.stem)
    w_opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    v = {n: torch.randn_like(p) for n, p in net.named_parameters()}
    with pytest.raises(NotImplementedError, match="search.hvp=double_backward"):
        Architect(net, arch, w_opt, order="second", hvp="exact").mixed_hvp(*batches[:2], v)
    product = Architect(net, arch, w_opt, order="second", hvp="double_backward").mixed_hvp(*batches[:2], v)
    assert all(torch.isfinite(p).all() and p.abs().max() > 0 for p in product.values())
