import pytest
import torch
import torch.nn.functional as F

from irlas_darts.ops import (
    FactorizedReduce, OP_FACTORIES, ReLUConvBN, ResNetBasicblock, create_op, nb201_stem, starts_with_relu,
)
from irlas_darts.spaces import DARTS_OPS, NB201_OPS

C = 4
CASES = [(space, op) for space, ops in (("darts", DARTS_OPS), ("nb201", NB201_OPS)) for op in ops]
CONV_OPS = {"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "nor_conv_1x1", "nor_conv_3x3"}


def test_factories_follow_the_space_op_order():
    assert tuple(OP_FACTORIES["darts"]) == DARTS_OPS
    assert tuple(OP_FACTORIES["nb201"]) == NB201_OPS


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("space,op", CASES)
def test_output_shape(space, op, stride, size):
    x = torch.randn(2, C, size, size)
    out = create_op(space, op, C, stride, affine=False)(x)
    expected = size if stride == 1 else (size + 1) // 2
    assert out.shape == (2, C, expected, expected)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("space,op", CASES)
def test_every_parameter_gets_a_finite_gradient(space, op, stride, affine):
    torch.manual_seed(0)
    module = create_op(space, op, C, stride, affine=affine)
    x = torch.randn(2, C, 8, 8, requires_grad=True)
    out = module(x)
    (out * torch.randn_like(out)).sum().backward()
    params = list(module.named_parameters())
    if op in CONV_OPS:
        assert params, f"{op} should have weights"
    if affine and (op in CONV_OPS or (op == "skip_connect" and stride == 2)):
        assert any("bn" in name for name, _ in params), "affine=True must give BN weights"
    if not affine:
        assert not any(name.endswith("bn.weight") for name, _ in params), "affine=False must not give BN weights"
    for name, p in params:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    if op != "none":
        assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_none_is_zero(space, stride):
    x = torch.randn(2, C, 8, 8)
    out = create_op(space, "none", C, stride, affine=False)(x)
    assert out.shape[-1] == 8 // stride
    assert torch.count_nonzero(out) == 0


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_skip_connect_is_identity_at_stride_1(space):
    x = torch.randn(2, C, 8, 8)
    assert torch.equal(create_op(space, "skip_connect", C, 1, affine=False)(x), x)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("space,op", CASES)
def test_relu_first_ops_accept_a_preactivated_input(space, op, stride):
    """The shared-ReLU path of MixedOp relies on forward(x) == forward_activated(relu(x))."""
    module = create_op(space, op, C, stride, affine=False)
    assert starts_with_relu(module) == (op in CONV_OPS or (op == "skip_connect" and stride == 2))
    if starts_with_relu(module):
        x = torch.randn(2, C, 8, 8)
        assert torch.equal(module(x), module.forward_activated(F.relu(x)))


def test_avg_pool_excludes_padding():
    x = torch.ones(1, 1, 4, 4)
    out = create_op("darts", "avg_pool_3x3", 1, 1, affine=False)(x)
    assert torch.allclose(out, torch.ones_like(out))


def test_factorized_reduce_matches_the_offset_grid_definition():
    torch.manual_seed(0)
    fr = FactorizedReduce(3, 6, affine=False).eval()
    x = torch.randn(1, 3, 8, 8)
    a = F.relu(x)
    ref = torch.cat([F.conv2d(a[:, :, ::2, ::2], fr.conv_1.weight), F.conv2d(a[:, :, 1::2, 1::2], fr.conv_2.weight)], 1)
    assert torch.allclose(fr(x), fr.bn(ref), atol=1e-6)


def test_sep_conv_parameter_count():
    # two (depthwise k*k + pointwise C*C) units; BN without affine adds nothing
    module = create_op("darts", "sep_conv_3x3", 8, 1, affine=False)
    assert sum(p.numel() for p in module.parameters()) == 2 * (8 * 9 + 8 * 8)


@pytest.mark.parametrize("size", [8, 7])
def test_resnet_basicblock_reduces(size):
    block = ResNetBasicblock(4, 8, stride=2)
    out = block(torch.randn(2, 4, size, size))
    assert out.shape == (2, 8, (size + 1) // 2, (size + 1) // 2)
    assert ResNetBasicblock(4, 8, stride=1)(torch.randn(2, 4, 8, 8)).shape == (2, 8, 8, 8)


def test_nb201_stem_and_relu_conv_bn_shapes():
    assert nb201_stem(1, 16)(torch.randn(2, 1, 8, 8)).shape == (2, 16, 8, 8)
    assert ReLUConvBN(4, 6, 1, 1, 0, affine=True)(torch.randn(2, 4, 8, 8)).shape == (2, 6, 8, 8)


def test_create_op_rejects_unknown_names():
    with pytest.raises(KeyError, match="conv_7x7"):
        create_op("darts", "conv_7x7", C, 1, affine=False)
    with pytest.raises(KeyError, match="nasnet"):
        create_op("nasnet", "none", C, 1, affine=False)
