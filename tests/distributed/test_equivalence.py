"""Data-parallel search (2 gloo processes on the CPU) against one process with the global batch.

One spawn runs every distributed case (first order, second order with the exact and the finite-difference product);
each rank checks at every epoch's end that the alphas, the regularizer's state and the weights are bit-identical on
all ranks, and rank 0 saves its final state. The test process then runs the same searches alone with the global
batch and compares: alphas and weights within 1e-5, the same genotype.
"""

from __future__ import annotations

import faulthandler
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from irlas_darts import distributed as dist
from irlas_darts.data import AugmentSpec, BatchIterator, load_dataset, rank_slice, split_train
from irlas_darts.regularizers import create_regularizer
from irlas_darts.search.architecture import Architecture
from irlas_darts.search.loop import SearchData, Searcher, SearchSettings
from irlas_darts.search.supernet import create_supernet
from irlas_darts.spaces import create_space
from irlas_darts.topology import expert_cells

EXPERT = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"]
CASES = {"first": dict(order="first"), "second_exact": dict(order="second", hvp="exact"),
         "second_fd": dict(order="second", hvp="finite_difference")}
EPOCHS, BATCH = 2, 32


def make_searcher(case: str, sync_bn: bool = True) -> Searcher:
    torch.manual_seed(0)
    ds = load_dataset("synthetic", n_train=128, n_test=8, num_classes=4, size=8, channels=1, seed=1)
    w, a = split_train(len(ds.train_x), 0.5, torch.Generator().manual_seed(0))
    # augmentation on, so the test also covers "augment the global batch, then keep this rank's slice"
    data = SearchData(ds.train_x[w], ds.train_y[w], ds.train_x[a], ds.train_y[a],
                      augment=AugmentSpec(crop_padding=1, flip=True))
    space = create_space("nb201")
    net = create_supernet(space, in_channels=1, num_classes=4, C=4, layers=3)
    arch = Architecture(space, generator=torch.Generator().manual_seed(0))
    reg = create_regularizer("irl", space, expert=expert_cells(space, EXPERT), lam=0.1)
    settings = SearchSettings(epochs=EPOCHS, batch_size=BATCH, sync_bn=sync_bn, **CASES[case])
    return Searcher(space, net, arch, data, settings, reg, seed=0)


def snapshot(s: Searcher) -> dict:
    return {"alphas": {k: v.detach().clone() for k, v in s.arch.as_dict().items()},
            "weights": {k: v.detach().clone() for k, v in s.net.state_dict().items()},
            "regularizer": s.regularizer.state_dict(), "genotype": s.genotype().to_text(),
            "history": [{k: v for k, v in r.items() if k != "seconds"} for r in s.history]}


def same_everywhere(value) -> bool:
    """Bitwise equality of ``value`` (tensors in nested containers) across all ranks."""
    gathered = dist.all_gather_object(value)
    return all(_equal(gathered[0], other) for other in gathered[1:])


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _worker(rank: int, world: int, out: str) -> None:
    # A crash in C++ (an abort in gloo's threads) prints past pytest's capture: keep this rank's stderr and a Python
    # stack on a fatal signal in a file the fixture shows when a rank dies.
    err = open(Path(out) / f"rank{rank}.err", "w")
    os.dup2(err.fileno(), 2)
    faulthandler.enable(err)
    torch.set_num_threads(1)
    # A file rendezvous: a port picked free here and bound later by rank 0 can be taken in between by a process of
    # another test (torchrun's, in the other pytest worker)
    torch_dist.init_process_group("gloo", init_method=(Path(out) / "rendezvous").resolve().as_uri(), rank=rank,
                                  world_size=world)
    try:
        for case in CASES:
            s = make_searcher(case)
            checks = []
            while not s.done:
                s.train_epoch()
                snap = snapshot(s)
                checks.append({k: same_everywhere(snap[k]) for k in ("alphas", "regularizer", "weights", "genotype")})
                checks[-1]["generator"] = same_everywhere(s.generator.get_state())
            if rank == 0:
                torch.save({"snapshot": snapshot(s), "checks": checks}, Path(out) / f"{case}.pt")
            torch_dist.barrier()
    finally:
        torch_dist.destroy_process_group()


@pytest.fixture(scope="module")
def distributed_runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    try:
        mp.spawn(_worker, args=(2, str(out)), nprocs=2, join=True)
    except mp.ProcessExitedException as exc:
        tails = {f.name: f.read_text()[-3000:] for f in sorted(out.glob("rank*.err"))}
        raise AssertionError(f"{exc}; the ranks' stderr: {tails}") from exc
    return out


@pytest.mark.slow  # one spawn of 2 processes for all cases: 15-40 s on 2 shared cores
@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_with_half_batches_equal_one_process_with_the_batch(distributed_runs, case):
    saved = torch.load(distributed_runs / f"{case}.pt", weights_only=False)
    # every epoch's end: alphas, regularizer state (the IRL step), weights and generators bit-identical on both ranks
    assert len(saved["checks"]) == EPOCHS
    assert all(all(c.values()) for c in saved["checks"]), saved["checks"]
    two = saved["snapshot"]
    single = make_searcher(case)
    while not single.done:
        single.train_epoch()
    one = snapshot(single)
    assert two["genotype"] == one["genotype"]
    for kind in ("alphas", "weights"):
        for key, value in one[kind].items():
            if value.is_floating_point():
                torch.testing.assert_close(two[kind][key], value, rtol=0, atol=1e-5, msg=f"{kind} {key}")
            else:
                assert torch.equal(two[kind][key], value), key
    # the logged epoch metrics are global, reduced over the ranks (float32 losses summed in another order)
    for r2, r1 in zip(two["history"], one["history"]):
        for key in ("train_loss", "train_acc", "arch_loss", "val_loss", "val_acc"):
            assert abs(r2[key] - r1[key]) < 1e-4, key
        assert r2["genotype"] == r1["genotype"]


def test_rank_slices_cover_each_epoch_exactly_once():
    """The split law: every rank draws the same global order, its slice is deterministic, and the slices of all
    ranks are disjoint and together are the epoch (the batches a single process would see)."""
    x = torch.arange(100).float()[:, None]
    y = torch.arange(100)
    for world in (1, 2, 4):
        batch = 32  # divisible by every world size here
        seen_by_rank = []
        for rank in range(world):
            gen = torch.Generator().manual_seed(5)
            mine = [yb[rank_slice(len(yb), rank, world)] for _, yb in BatchIterator(x, y, batch, generator=gen)]
            again = [yb[rank_slice(len(yb), rank, world)] for _, yb in
                     BatchIterator(x, y, batch, generator=torch.Generator().manual_seed(5))]
            assert all(torch.equal(a, b) for a, b in zip(mine, again))  # deterministic per rank
            assert all(len(part) == batch // world for part in mine)
            seen_by_rank.append(torch.cat(mine))
        union = torch.cat(seen_by_rank)
        assert len(set(union.tolist())) == len(union)  # disjoint
        whole = torch.cat([yb for _, yb in BatchIterator(x, y, batch, generator=torch.Generator().manual_seed(5))])
        assert sorted(union.tolist()) == sorted(whole.tolist())  # together: the epoch, as one process sees it
        assert len(whole) == (100 // batch) * batch


def test_rank_slice_refuses_an_uneven_batch():
    with pytest.raises(ValueError, match="cannot be split evenly"):
        rank_slice(30, 0, 4)
    assert rank_slice(10, 3, 4, exact=False) == slice(7, 10)


def test_single_process_needs_no_group_and_keeps_its_numbers():
    assert not dist.active() and dist.world_size() == 1 and dist.rank() == 0
    t = [torch.ones(2)]
    assert dist.all_reduce_mean(t)[0] is t[0]
    s = make_searcher("first", sync_bn=True)  # the switch does nothing without a group
    assert not any(isinstance(m, dist.GlobalBatchNorm2d) for m in s.net.modules())
    assert s.train_net is s.net
