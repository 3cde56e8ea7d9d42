import contextlib

import pytest
import torch
import torch.nn.functional as F

from irlas_darts.ops import FactorizedReduce, Zero
from irlas_darts.ops.lean import twice_differentiable
from irlas_darts.search.architecture import Architecture
from irlas_darts.search.mixed_op import MixedOp
from irlas_darts.search.supernet import DartsSupernet, NB201SearchCell, NB201Supernet, create_supernet
from irlas_darts.spaces import create_space


def small(space: str, seed: int = 0, **kw) -> torch.nn.Module:
    """3 cells of 4 channels (DARTS: normal, reduce, reduce; NB201: N=1), 1-channel 8x8 inputs, 5 classes."""
    torch.manual_seed(seed)
    return create_supernet(space, in_channels=1, num_classes=5, C=4, layers=3, **kw)


def probs_of(space: str, seed: int = 1, scale: float = 1.0) -> tuple[Architecture, dict]:
    arch = Architecture(create_space(space), generator=torch.Generator().manual_seed(seed), scale=scale)
    return arch, arch.probs()


# ---- MixedOp ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_mixed_op_equals_the_explicit_weighted_sum(space, stride):
    torch.manual_seed(0)
    sp = create_space(space)
    mixed = MixedOp(space, 4, stride)
    x = torch.randn(2, 4, 8, 8)
    w = torch.softmax(torch.randn(len(sp.ops)), 0)
    expected = None
    for op, col in zip(mixed.ops, mixed.columns):
        term = w[col] * op(x)  # each op alone, with its own ReLU
        expected = term if expected is None else expected + term
    assert torch.equal(mixed(x, w), expected)
    assert torch.equal(mixed(x, w, F.relu(x)), expected)
    assert [sp.ops[c] for c in mixed.columns] == [o for o in sp.ops if o != "none"]


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_mixed_op_rectifies_its_input_once(space, monkeypatch):
    mixed = MixedOp(space, 4, 1)
    x = torch.randn(2, 4, 8, 8)
    calls = []
    relu = F.relu
    monkeypatch.setattr(F, "relu", lambda t, *a, **k: calls.append(t is x) or relu(t, *a, **k))
    mixed(x, torch.full((len(create_space(space).ops),), 0.2))
    assert sum(calls) == 1


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_builds_no_none_op(stride):
    mixed = MixedOp("darts", 4, stride)
    assert len(mixed.ops) == 7
    assert not any(isinstance(m, Zero) for m in mixed.modules())


def test_mixed_op_normalises_darts_pools_without_affine():
    mixed = MixedOp("darts", 4, 1)
    pools = [op for op, col in zip(mixed.ops, mixed.columns) if "pool" in create_space("darts").ops[col]]
    assert len(pools) == 2
    assert all(isinstance(p[1], torch.nn.BatchNorm2d) and not p[1].affine for p in pools)


def test_mixed_op_rejects_wrong_weights():
    with pytest.raises(ValueError, match="expected"):
        MixedOp("nb201", 4, 1)(torch.randn(1, 4, 8, 8), torch.ones(3))


# ---- supernets -------------------------------------------------------------------------------------------------


def test_darts_supernet_has_the_published_weight_count():
    net = DartsSupernet(C=16, num_classes=10, layers=8, in_channels=3)
    n = sum(p.numel() for p in net.parameters())
    assert n == 1_930_618  # published: 1.93M


def test_darts_supernet_structure():
    net = DartsSupernet(C=4, layers=8)
    assert [i for i, c in enumerate(net.cells) if c.reduction] == [2, 5]
    for i, cell in enumerate(net.cells):
        assert isinstance(cell.preprocess0, FactorizedReduce) == (i in (3, 6))
        assert len(cell.mixed) == 14


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_supernet_output_shape_on_small_inputs(space):
    net = small(space)
    _, probs = probs_of(space)
    assert net(torch.randn(3, 1, 8, 8), probs).shape == (3, 5)


def test_supernet_handles_odd_sizes():
    _, probs = probs_of("darts")
    assert small("darts")(torch.randn(2, 1, 7, 7), probs).shape == (2, 5)
    _, probs = probs_of("nb201")
    assert small("nb201")(torch.randn(2, 1, 7, 7), probs).shape == (2, 5)


def test_nb201_supernet_benchmark_skeleton():
    net = NB201Supernet(C=4, N=5, num_classes=10)
    cells = [m for m in net.layers if isinstance(m, NB201SearchCell)]
    assert len(cells) == 15 and len(net.layers) == 17
    _, probs = probs_of("nb201")
    assert net(torch.randn(2, 3, 16, 16), probs).shape == (2, 10)
    assert sum(isinstance(m, NB201SearchCell) for m in create_supernet("nb201", C=4, layers=15).layers) == 15


def test_nb201_layers_must_be_a_multiple_of_three():
    with pytest.raises(ValueError, match="layers"):
        create_supernet("nb201", C=4, layers=4)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_gradients_reach_alphas_and_every_weight(space):
    net = small(space)
    arch, probs = probs_of(space)
    F.cross_entropy(net(torch.randn(4, 1, 8, 8), probs), torch.tensor([0, 1, 2, 3])).backward()
    for cell, alpha in arch.alphas.items():
        assert alpha.grad is not None and torch.isfinite(alpha.grad).all(), cell
        assert alpha.grad.abs().sum() > 0, cell
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_supernet_never_runs_none(space, monkeypatch):
    net = small(space)
    assert not any(isinstance(m, Zero) for m in net.modules())
    monkeypatch.setattr(Zero, "forward", lambda self, x: pytest.fail("Zero.forward called"))
    _, probs = probs_of(space)
    net(torch.randn(2, 1, 8, 8), probs)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_supernet_has_no_architecture_parameters(space):
    net = small(space)
    assert not any("alpha" in name for name, _ in net.named_parameters())
    assert all(p.shape != create_space(space).alpha_shape for p in net.parameters())


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_forward_is_deterministic_under_a_seed(space):
    _, probs = probs_of(space)
    outs = []
    for _ in range(2):
        net = small(space, seed=3)
        torch.manual_seed(4)
        outs.append(net(torch.randn(2, 1, 8, 8), probs))
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_channels_last_gives_the_same_logits(space):
    _, probs = probs_of(space)
    x = torch.randn(2, 1, 8, 8)
    plain = small(space, seed=5)(x, probs)
    fast = small(space, seed=5, channels_last=True)
    assert fast.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast(x, probs), plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_stages_compose_to_the_forward_pass(space, channels_last):
    """The chain the recomputing exact product runs cell by cell is the forward pass, op for op."""
    _, probs = probs_of(space)
    net = small(space, seed=6, channels_last=channels_last)
    x = torch.randn(3, 1, 8, 8)
    chain = net.stages(probs)
    states = chain.stem(x)
    for stage in chain.stages:
        states = stage(states)
    assert len(chain.stages) == len(net.cells)
    assert torch.equal(chain.head(states), net(x, probs))
    with pytest.raises(KeyError):
        net.stages({})


def test_supernet_checks_probs():
    net = small("darts")
    _, probs = probs_of("darts")
    with pytest.raises(KeyError, match="reduce"):
        net(torch.randn(1, 1, 8, 8), {"normal": probs["normal"]})
    with pytest.raises(ValueError, match="shape"):
        net(torch.randn(1, 1, 8, 8), {"normal": probs["normal"][:3], "reduce": probs["reduce"]})


def test_all_none_probs_give_bias_only_logits():
    """With all mass on `none` every cell node is zero, so logits cannot depend on the input."""
    net = small("nb201").eval()
    probs = {"cell": torch.zeros(6, 5)}
    probs["cell"][:, 0] = 1.0
    a = net(torch.randn(2, 1, 8, 8), probs)
    b = net(torch.randn(2, 1, 8, 8), probs)
    torch.testing.assert_close(a, b)


# ---- lean nodes: the supernet computes the plain per-op sum ---------------------------------------------------


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_lean_mixed_op_equals_the_plain_per_op_sum(space, stride, channels_last):
    """Outputs and gradients (input, weights, op weights) of the lean MixedOp against each op run alone."""
    torch.manual_seed(0)
    sp = create_space(space)
    mixed = MixedOp(space, 4, stride)
    x = torch.randn(3, 4, 8, 8)
    if channels_last:
        mixed.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.softmax(torch.randn(len(sp.ops)), 0)
    params = list(mixed.parameters())

    def grads(run):
        xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = run(xi, wi)
        g = torch.randn_like(out, generator=torch.Generator().manual_seed(1))
        return [out, *torch.autograd.grad((out * g).sum(), [xi, wi, *params])]

    def per_op_sum(xi, wi):
        return sum(wi[col] * op(xi) for op, col in zip(mixed.ops, mixed.columns))

    lean = grads(lambda xi, wi: mixed(xi, wi))
    with twice_differentiable():
        plain = grads(per_op_sum)
    for a, b in zip(lean, plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_lean_supernet_equals_the_plain_supernet(space):
    """Logits, every weight's gradient and the alphas' gradient, lean nodes on and off, and the BN statistics."""
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    results = []
    for lean in (True, False):
        net = small(space, seed=7, channels_last=True)
        arch, _ = probs_of(space)
        with contextlib.nullcontext() if lean else twice_differentiable():
            logits = net(x, arch.probs())
            loss = F.cross_entropy(logits, y)
            grads = torch.autograd.grad(loss, [*net.parameters(), *arch.parameters()])
        results.append((logits, grads, [b.clone() for b in net.buffers()]))
    (l1, g1, b1), (l2, g2, b2) = results
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(b1, b2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
