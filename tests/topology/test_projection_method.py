"""The projection step of Abbeel & Ng (SPEC §4.4) on toys whose answer is known independently."""

import io

import pytest
import torch

from irlas_darts.topology import MirrorStimuli


def nearest_hull_point(points: torch.Tensor, target: torch.Tensor, iters: int = 20000) -> torch.Tensor:
    """Independent QP: projected gradient on the simplex weights of the convex combination."""
    k = points.shape[0]
    lam = torch.full((k,), 1.0 / k, dtype=torch.float64)
    step = 1.0 / (2 * torch.linalg.matrix_norm(points @ points.T, 2))
    ranks = torch.arange(1, k + 1, dtype=torch.float64)
    for _ in range(iters):
        v = lam - step * 2 * points @ (points.T @ lam - target)
        u = torch.sort(v, descending=True).values
        css = u.cumsum(0) - 1
        r = int(((u - css / ranks) > 0).nonzero().max())
        lam = (v - css[r] / (r + 1)).clamp_min(0)
    return points.T @ lam


def run(points: torch.Tensor, expert: torch.Tensor, steps: int, clip: bool = True) -> tuple[MirrorStimuli, list[float]]:
    """The 'RL step' of the toy: the candidate that is best under the current w."""
    irl = MirrorStimuli(expert, epsilon=0.0, clip=clip)
    irl.start(points[0])
    margins = [irl.margin]
    for _ in range(steps):
        irl.step(points[int((points @ irl.w).argmax())])
        margins.append(irl.margin)
    return irl, margins


@pytest.mark.parametrize("seed", range(4))
def test_margin_never_increases_and_mubar_reaches_the_nearest_hull_point(seed):
    gen = torch.Generator().manual_seed(seed)
    points = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    expert = 2 * torch.randn(4, generator=gen, dtype=torch.float64)
    irl, margins = run(points, expert, 2000)
    assert all(b <= a + 1e-12 for a, b in zip(margins, margins[1:]))
    target = nearest_hull_point(points, expert)
    # Frank-Wolfe-like steps converge at rate O(1/steps) when the nearest point lies inside a face
    assert irl.margin == pytest.approx(float((expert - target).norm()), abs=1e-3)
    assert float((irl.mubar - target).norm()) < 1e-2
    torch.testing.assert_close(irl.w, expert - irl.mubar)


def test_expert_inside_the_hull_is_matched_and_clipping_is_a_no_op_there():
    """With a feasible expert and a w-optimal policy the step factor stays in [0, 1] (Abbeel & Ng), so the clipped
    and the plain line projection agree, and t -> 0."""
    gen = torch.Generator().manual_seed(7)
    points = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    expert = torch.tensor([0.1, 0.3, 0.2, 0.25, 0.15], dtype=torch.float64) @ points
    clipped, m1 = run(points, expert, 300, clip=True)
    line, m2 = run(points, expert, 300, clip=False)
    assert m1 == m2
    assert clipped.margin < 0.05 * m1[0]


def test_one_step_is_the_projection_onto_the_segment():
    expert = torch.tensor([1.0, 1.0], dtype=torch.float64)
    irl = MirrorStimuli(expert, epsilon=0.0)
    irl.start(torch.tensor([0.0, 0.0]))
    irl.step(torch.tensor([2.0, 0.0]))  # foot of the perpendicular from (1, 1) onto the x axis: (1, 0)
    torch.testing.assert_close(irl.mubar, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert irl.margin == pytest.approx(1.0)
    irl.step(torch.tensor([1.0, 0.0]))  # d = 0: nothing moves
    torch.testing.assert_close(irl.mubar, torch.tensor([1.0, 0.0], dtype=torch.float64))
    irl.step(torch.tensor([1.0, -1.0]))  # pointing away: clipped to no move; a line projection would jump
    torch.testing.assert_close(irl.mubar, torch.tensor([1.0, 0.0], dtype=torch.float64))
    line = MirrorStimuli(expert, epsilon=0.0, clip=False)
    line.start(torch.tensor([1.0, 0.0]))
    line.step(torch.tensor([1.0, -1.0]))
    torch.testing.assert_close(line.mubar, torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_w_freezes_once_the_margin_is_within_epsilon():
    irl = MirrorStimuli(torch.tensor([1.0, 0.0]), epsilon=0.5)
    irl.start(torch.tensor([0.0, 0.0]))
    assert not irl.converged
    assert irl.step(torch.tensor([0.8, 0.0]))
    assert irl.converged and irl.margin == pytest.approx(0.2)
    w = irl.w.clone()
    assert not irl.step(torch.tensor([5.0, 5.0]))
    torch.testing.assert_close(irl.w, w)
    assert irl.steps == 1


def test_state_round_trips_through_torch_save_exactly():
    gen = torch.Generator().manual_seed(0)
    points = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    a, _ = run(points, torch.ones(3, dtype=torch.float64), 5)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = MirrorStimuli(torch.ones(3, dtype=torch.float64), epsilon=0.0)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(5):
        mu = points[int((points @ a.w).argmax())]
        a.step(mu)
        b.step(mu)
        assert torch.equal(a.mubar, b.mubar) and a.steps == b.steps
    assert a.history == b.history
    with pytest.raises(ValueError, match="another expert"):
        MirrorStimuli(torch.zeros(3)).load_state_dict(a.state_dict())


def test_misuse_fails_clearly():
    irl = MirrorStimuli(torch.zeros(3))
    with pytest.raises(RuntimeError, match="start"):
        irl.step(torch.zeros(3))
    with pytest.raises(RuntimeError, match="start"):
        irl.w
    with pytest.raises(ValueError, match="entries"):
        irl.start(torch.zeros(4))
    with pytest.raises(ValueError, match="epsilon"):
        MirrorStimuli(torch.zeros(3), epsilon=-1)
