"""The app's torchrun plumbing that needs no second process: overrides per rank, the batch check, the summary."""

import pytest
from omegaconf import OmegaConf

from irlas_darts.app.config import ConfigError
from irlas_darts.app.launch import check_world, rank_overrides, start, summary
from irlas_darts.app.runtime import Runtime
from irlas_darts.distributed import DistContext


def cfg(batch=32, sync_bn=False):
    return OmegaConf.create({"search": {"batch_size": batch, "sync_bn": sync_bn}})


def test_only_rank_zero_writes_hydras_folder(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert rank_overrides([]) == []
    monkeypatch.setenv("RANK", "0")
    assert rank_overrides([]) == []
    monkeypatch.setenv("RANK", "3")
    assert rank_overrides(["seed=1"]) == ["hydra.output_subdir=null"]
    assert rank_overrides(["hydra.output_subdir=x"]) == []  # the user's own choice stays


def test_the_global_batch_must_divide_by_the_world_size(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ConfigError, match=r"search.batch_size=30 is the global batch and must be divisible by the 4"):
        check_world(cfg(30))
    check_world(cfg(32))
    monkeypatch.setenv("WORLD_SIZE", "1")
    check_world(cfg(31))


def test_a_single_process_starts_no_group(monkeypatch):
    import torch

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    runtime = Runtime(torch.device("cpu"), 1)
    ctx, same, started = start(cfg(), runtime)
    assert ctx == DistContext() and same is runtime and not started
    assert summary(cfg(32, sync_bn=True), ctx) == {"world_size": 1, "per_rank_batch_size": 32, "backend": None,
                                                   "sync_bn": False}
