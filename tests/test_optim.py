"""The one weight optimizer and schedule that search and evaluation share."""

import math

import pytest
import torch

from irlas_darts.optim import sgd_cosine


@pytest.mark.parametrize("epochs", [1, 4])
def test_sgd_cosine_follows_the_cosine_from_lr_to_lr_min(epochs):
    w = torch.nn.Parameter(torch.zeros(3))
    opt, sched = sgd_cosine([w], lr=0.1, momentum=0.9, weight_decay=3e-4, epochs=epochs, lr_min=0.001)
    group = opt.param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.9, 3e-4)
    for e in range(epochs + 1):
        expected = 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * e / epochs)) / 2
        assert group["lr"] == pytest.approx(expected, rel=1e-9)
        opt.step()
        sched.step()


def test_zero_epochs_keeps_a_valid_schedule():
    opt, sched = sgd_cosine([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.0, weight_decay=0.0, epochs=0,
                            lr_min=0.0)
    assert sched.T_max == 1 and opt.param_groups[0]["lr"] == 0.1
