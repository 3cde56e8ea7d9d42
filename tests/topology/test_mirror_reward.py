"""Laws of the mirror reward ``F = w . mu_E - |w| . |mu - mu_E|`` (README, "The prior").

It is the linear reward ``w . mu`` (up to a constant) wherever the search still falls short of the expert, it is
maximal at the expert's features, and it never grows past them; ``reward="linear"`` keeps SPEC's ``w . mu``.
"""

import pytest
import torch

from irlas_darts.topology import MirrorStimuli


def tracker(seed: int, form: str = "mirror", n: int = 13) -> MirrorStimuli:
    gen = torch.Generator().manual_seed(seed)
    mu_e = torch.rand(n, generator=gen, dtype=torch.float64) * 3
    irl = MirrorStimuli(mu_e, epsilon=0.0, form=form)
    irl.start(torch.rand(n, generator=gen, dtype=torch.float64) * 3)  # w = mu_E - mubar has mixed signs
    return irl


@pytest.mark.parametrize("seed", range(5))
def test_maximal_at_the_expert(seed):
    irl = tracker(seed)
    gen = torch.Generator().manual_seed(100 + seed)
    top = irl.reward(irl.mu_expert)
    torch.testing.assert_close(top, irl.w @ irl.mu_expert)
    for _ in range(50):
        mu = torch.rand(13, generator=gen, dtype=torch.float64) * 6
        assert irl.reward(mu) <= top + 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_never_grows_past_the_expert(seed):
    """Moving a feature beyond the expert's value, in either direction, never raises F."""
    irl = tracker(seed)
    for k in range(13):
        for sign in (1.0, -1.0):
            values = []
            for step in torch.linspace(0, 3, 13, dtype=torch.float64):
                mu = irl.mu_expert.clone()
                mu[k] += sign * step
                values.append(float(irl.reward(mu)))
            assert all(b <= a + 1e-12 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("seed", range(5))
def test_linear_on_the_near_side(seed):
    """Between mubar and mu_E (every feature short of the expert on w's side) F differs from w . mu by a constant."""
    irl = tracker(seed)
    linear = tracker(seed, form="linear")
    gen = torch.Generator().manual_seed(200 + seed)
    diffs = []
    for _ in range(20):
        t = torch.rand(13, generator=gen, dtype=torch.float64)  # per feature, a point on [mubar_k, mu_E_k]
        mu = irl.mubar + t * (irl.mu_expert - irl.mubar)
        diffs.append(float(irl.reward(mu) - linear.reward(mu)))
    assert max(diffs) - min(diffs) < 1e-9


def test_linear_form_is_specs_and_unbounded():
    irl = tracker(0, form="linear")
    mu = torch.ones(13, dtype=torch.float64)
    torch.testing.assert_close(irl.reward(mu), irl.w @ mu)
    far = irl.mu_expert + 100 * torch.sign(irl.w)  # far past the expert along w
    assert irl.reward(far) > irl.reward(irl.mu_expert)  # what the mirror form rules out


def test_unknown_form_names_the_key():
    with pytest.raises(ValueError, match="regularizer.reward='cubic'"):
        MirrorStimuli(torch.zeros(3), form="cubic")


def test_gradient_fades_with_the_margin():
    """The force on mu is |w_k| per feature: zero once the projection has reached the expert."""
    irl = tracker(1)
    mu = (irl.mu_expert + 0.5).requires_grad_()
    irl.reward(mu).backward()
    torch.testing.assert_close(mu.grad.abs(), irl.w.abs())
    irl.step(irl.mu_expert)  # the policy reaches the expert: mubar = mu_E, w = 0
    mu.grad = None
    irl.reward(mu).backward()
    assert irl.margin < 1e-12 and float(mu.grad.abs().max()) < 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_flat_between_disagreeing_expert_cells_and_the_old_form_where_they_agree(seed):
    """With the expert cells' (min, max) per entry, F is maximal (and flat) on the whole box between them, falls off
    as before outside it, and where min == max == mu_E it is the single-point form bit for bit."""
    gen = torch.Generator().manual_seed(200 + seed)
    low = torch.rand(13, generator=gen, dtype=torch.float64) * 3
    high = low.clone()
    high[:4] += 1.0  # four entries on which the cells disagree
    mu_e = 0.5 * (low + high)
    banded = MirrorStimuli(mu_e, epsilon=0.0, expert_range=(low, high))
    point = MirrorStimuli(mu_e, epsilon=0.0)
    start = torch.rand(13, generator=gen, dtype=torch.float64) * 3
    banded.start(start), point.start(start)
    top = banded.reward(mu_e)
    for _ in range(20):  # anywhere in the box: the maximum, with no gradient
        mu = (low + torch.rand(13, generator=gen, dtype=torch.float64) * (high - low)).requires_grad_()
        value = banded.reward(mu)
        torch.testing.assert_close(value.detach(), top)
        grad, = torch.autograd.grad(value, mu)
        assert bool((grad == 0).all())
    for _ in range(20):  # off the disagreeing entries: identical to the single-point form
        mu = torch.rand(13, generator=gen, dtype=torch.float64) * 6
        mu[:4] = mu_e[:4]
        assert torch.equal(banded.reward(mu), point.reward(mu))
        mu[0] = high[0] + 0.5  # past the box: falls off at |w_0| per unit, as the point form does past mu_E
        torch.testing.assert_close(banded.reward(mu), top - banded.w[4:].abs() @ (mu[4:] - mu_e[4:]).abs()
                                   - banded.w[0].abs() * 0.5)
    with pytest.raises(ValueError, match="expert_range"):
        MirrorStimuli(mu_e, expert_range=(high, low))


def test_three_agreeing_cells_keep_their_mean_inside_the_range():
    """(0.1 + 0.1 + 0.1) / 3 rounds above 0.1: the range is widened to hold mu_E, not refused."""
    mus = torch.full((3, 5), 0.1, dtype=torch.float64)
    mu_e = mus.mean(0)
    assert bool((mu_e > mus.max(0).values).any())  # the rounding this guards against
    irl = MirrorStimuli(mu_e, epsilon=0.0, expert_range=(mus.min(0).values, mus.max(0).values))
    assert bool(((irl.low <= irl.mu_expert) & (irl.mu_expert <= irl.high)).all())
    irl.start(torch.zeros(5, dtype=torch.float64))
    assert irl.reward(mu_e) == irl.w @ mu_e  # maximal at mu_E, as with one cell
