"""F(alpha) = w . mu_soft(alpha) is differentiable: autograd agrees with finite differences (float64)."""

import pytest
import torch

from irlas_darts.spaces import create_space
from irlas_darts.topology import feature_names, soft_feature_expectation


@pytest.mark.parametrize("name,cells", [("darts", "normal"), ("darts", "both"), ("nb201", "normal")])
@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_gradcheck_of_F(name, cells, tau):
    space = create_space(name)
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(len(feature_names(space, cells)), generator=gen, dtype=torch.float64)
    tensors = [torch.randn(space.alpha_shape, generator=gen, dtype=torch.float64, requires_grad=True)
               for _ in space.cell_types]

    def F(*alpha):
        return w @ soft_feature_expectation(space, dict(zip(space.cell_types, alpha)), tau, cells)

    assert torch.autograd.gradcheck(F, tensors, eps=1e-6, atol=1e-6)
    grads = torch.autograd.grad(F(*tensors), tensors, allow_unused=True)
    assert grads[0].abs().sum() > 0  # the normal (or only) cell is reached
    if name == "darts":
        assert (grads[1] is not None and grads[1].abs().sum() > 0) == (cells == "both")


def test_features_follow_the_alphas_device_dtype():
    space = create_space("nb201")
    alpha = {"cell": torch.zeros(space.alpha_shape, dtype=torch.float32)}
    assert soft_feature_expectation(space, alpha, 0.1).dtype == torch.float32
