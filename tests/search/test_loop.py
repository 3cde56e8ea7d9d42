"""The search loop as a library: it learns, it is deterministic, and its state restores exactly."""

import pytest
import torch
import torch.nn.functional as F

from irlas_darts.data import load_dataset, split_train
from irlas_darts.regularizers.base import Regularizer
from irlas_darts.search.architecture import Architecture
from irlas_darts.search.loop import SearchData, Searcher, SearchSettings
from irlas_darts.search.supernet import create_supernet
from irlas_darts.spaces import create_space


def make_searcher(space_name="nb201", seed=0, epochs=4, n_train=256, regularizer=Regularizer, **settings):
    torch.manual_seed(seed)
    ds = load_dataset("synthetic", n_train=n_train, n_test=32, num_classes=4, size=8, channels=1, seed=1)
    w, a = split_train(len(ds.train_x), 0.5, torch.Generator().manual_seed(seed))
    data = SearchData(ds.train_x[w], ds.train_y[w], ds.train_x[a], ds.train_y[a])
    space = create_space(space_name)
    net = create_supernet(space, in_channels=1, num_classes=4, C=4, layers=3)
    arch = Architecture(space, generator=torch.Generator().manual_seed(seed))
    s = SearchSettings(epochs=epochs, batch_size=32, **settings)
    return Searcher(space, net, arch, data, s, regularizer(space), seed=seed)


def test_tiny_search_lowers_the_training_loss():
    searcher = make_searcher(epochs=4)
    rows = [searcher.train_epoch() for _ in range(4)]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert searcher.done and [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["lr"] < rows[0]["lr"]  # cosine schedule


def test_alphas_move_and_weights_learn_with_second_order():
    # one second-order step of the DARTS supernet (64 images: 32 for the weights, 32 for the alphas, batch 32)
    searcher = make_searcher(space_name="darts", epochs=1, n_train=64, order="second")
    weights = {k: v.detach().clone() for k, v in searcher.net.state_dict().items() if v.is_floating_point()}
    before = {k: v.detach().clone() for k, v in searcher.arch.as_dict().items()}
    searcher.train_epoch()
    assert any(not torch.equal(before[k], v) for k, v in searcher.arch.as_dict().items())
    assert any(not torch.equal(weights[k], v) for k, v in searcher.net.state_dict().items() if k in weights)


def test_same_seed_same_genotype_different_seed_other_alphas():
    a, b, c = (make_searcher(seed=seed, epochs=1, n_train=128) for seed in (3, 3, 4))
    for s in (a, b, c):
        s.train_epoch()
    assert a.genotype() == b.genotype()
    assert all(torch.equal(a.arch.alphas[k], b.arch.alphas[k]) for k in a.arch.alphas)
    assert not all(torch.equal(a.arch.alphas[k], c.arch.alphas[k]) for k in a.arch.alphas)


def test_state_dict_restores_exactly():
    whole = make_searcher(epochs=2, n_train=128)
    for _ in range(2):
        whole.train_epoch()
    first = make_searcher(epochs=2, n_train=128)
    first.train_epoch()
    state = first.state_dict()
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    resumed = make_searcher(epochs=2, n_train=128)
    resumed.load_state_dict(torch.load(buf, weights_only=False))
    while not resumed.done:
        resumed.train_epoch()
    assert all(torch.equal(whole.arch.alphas[k], resumed.arch.alphas[k]) for k in whole.arch.alphas)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(whole.history) == strip(resumed.history)


def test_lean_false_runs_the_plain_modules_and_takes_the_same_step(monkeypatch):
    """``search.lean=false`` trades memory for fewer calls: no lean BatchNorm node in its step, and the same update
    as the lean step up to float rounding (the nodes compute the same function and gradients)."""
    from irlas_darts.search import mixed_op

    calls = []
    lean_node = mixed_op.weighted_batch_norm
    monkeypatch.setattr(mixed_op, "weighted_batch_norm", lambda *a: calls.append(1) or lean_node(*a))
    after = {}
    for lean in (True, False):
        searcher = make_searcher(space_name="darts", epochs=1, n_train=64, lean=lean)
        d = searcher.data
        calls.clear()
        searcher.step(d.weight_x[:32], d.weight_y[:32], d.arch_x[:32], d.arch_y[:32], lr=0.025)
        after[lean] = (len(calls), {k: v.detach().clone() for k, v in searcher.arch.alphas.items()},
                       [p.detach().clone() for p in searcher.net.parameters()])
    assert after[True][0] > 0 and after[False][0] == 0
    for k, v in after[True][1].items():
        torch.testing.assert_close(after[False][1][k], v, rtol=1e-4, atol=1e-6)
    for p_lean, p_plain in zip(after[True][2], after[False][2]):
        torch.testing.assert_close(p_plain, p_lean, rtol=1e-4, atol=1e-5)


class EveryOtherStep(Regularizer):
    """Asks the architect to hold one mass on every other step (as the prior's guard_total does when a cell drifts)."""

    def __init__(self, space, **options):
        super().__init__(space, **options)
        self.calls = 0

    def excess_masses(self, alphas):
        self.calls += 1
        return [alphas["cell"].softmax(dim=-1)[:, 0].sum()] if self.calls % 2 else []


def test_history_counts_the_architecture_steps_guard_total_held():
    held = make_searcher(epochs=2, n_train=256, regularizer=EveryOtherStep)  # 128 + 128 images, batch 32: 4 steps
    rows = [held.train_epoch() for _ in range(2)]
    assert [r["guard_held_steps"] for r in rows] == [2, 2] and held.regularizer.calls == 8
    off = make_searcher(epochs=1, n_train=256, regularizer=lambda space: EveryOtherStep(space, guard_total=False))
    assert "guard_held_steps" not in off.train_epoch() and off.regularizer.calls == 0


def _buffers(net):
    return {k: v.clone() for k, v in net.named_buffers()}


def test_batch_statistics_evaluation_is_the_train_mode_forward_and_touches_no_running_statistic():
    """``eval_bn="batch"`` scores each chunk as the supernet trains (BatchNorm with the chunk's own statistics) and
    leaves the running statistics and the network's mode as they were; ``"running"`` is the eval-mode forward."""
    searcher = make_searcher(epochs=1)
    searcher.train_epoch()
    net, d = searcher.net, searcher.data
    x, y = d.arch_x[:40], d.arch_y[:40]
    before = _buffers(net)
    loss, acc = searcher.evaluate(x, y, batch_size=20)  # two chunks of 20
    assert all(torch.equal(before[k], v) for k, v in net.named_buffers()) and net.training
    probs = searcher.arch.probs()
    with torch.no_grad():
        logits = torch.cat([net(x[:20], probs), net(x[20:], probs)])  # train mode: updates the running statistics
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), abs=1e-5)
    assert round(acc * len(y)) == int((logits.argmax(-1) == y).sum())

    net.load_state_dict({**net.state_dict(), **before})
    searcher.settings.eval_bn = "running"
    net.eval()
    with torch.no_grad():
        eval_logits = net(x, probs)
    net.train()
    loss_r, acc_r = searcher.evaluate(x, y, batch_size=20)
    assert loss_r == pytest.approx(F.cross_entropy(eval_logits, y).item(), abs=1e-5)
    assert round(acc_r * len(y)) == int((eval_logits.argmax(-1) == y).sum())
    assert (loss_r, acc_r) != (loss, acc)  # after one epoch the running statistics are not the batch's


def test_any_world_size_evaluates_the_same_chunks():
    """The evaluation chunks are fixed for the whole set and dealt out to the ranks, so the ranks' sums (what the
    all-reduce adds) equal one process's figures whatever the world size, with batch statistics too."""
    searcher = make_searcher(epochs=1)
    searcher.train_epoch()
    x, y = searcher.data.arch_x[:53], searcher.data.arch_y[:53]  # 6 chunks of 8-9 at batch_size 10
    one = searcher.evaluate(x, y, batch_size=10)
    for world in (2, 3, 4):
        parts = []
        for rank in range(world):
            searcher.rank, searcher.world_size = rank, world
            parts.append(searcher.evaluate(x, y, batch_size=10))  # without a process group: this rank's share / n
        searcher.rank, searcher.world_size = 0, 1
        assert sum(p[0] for p in parts) == pytest.approx(one[0], abs=1e-5)
        assert round(sum(p[1] for p in parts) * len(y)) == round(one[1] * len(y))


def test_an_unknown_eval_bn_is_refused():
    with pytest.raises(ValueError, match="search.eval_bn='frozen'"):
        make_searcher(eval_bn="frozen")
