"""``irlas-search`` under ``torchrun``: one search over several processes, rank 0 the only one that speaks or writes.

What this adds around the single-process app (``irlas_darts.distributed`` holds the process group itself):

- before Hydra starts, ranks other than 0 get ``hydra.output_subdir=null``, so only rank 0 writes ``.hydra/``;
- ``search.batch_size`` (the global batch) must divide by the world size: one line, before anything is built;
- on CUDA each process takes the GPU ``LOCAL_RANK`` names, and the group uses NCCL (gloo on the CPU);
- ranks other than 0 log errors only; rank 0 says once that the run is distributed;
- ``resume=true``: rank 0 reads the checkpoint and sends it to every rank (no shared file system needed), or sends
  the reason it could not, so that every rank stops with the same one line.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from .. import distributed as dist
from .config import ConfigError
from .io import CheckpointError, load_checkpoint
from .runtime import Runtime

log = logging.getLogger("irlas_darts.search")


def rank_overrides(argv: list[str]) -> list[str]:
    """Overrides to append to a non-zero rank's command line (none for rank 0 or a single process)."""
    if dist.env_rank() == 0 or any(a.startswith("hydra.output_subdir=") for a in argv):
        return []
    return ["hydra.output_subdir=null"]


def check_world(cfg: DictConfig) -> None:
    """Refuse a global batch that the processes cannot share evenly (read from torchrun's environment)."""
    world = dist.env_world_size()
    if world > 1 and cfg.search.batch_size % world:
        raise ConfigError(f"search.batch_size={cfg.search.batch_size} is the global batch and must be divisible by "
                          f"the {world} processes of this run; use a multiple of {world}")


def start(cfg: DictConfig, runtime: Runtime) -> tuple[dist.DistContext, Runtime, bool]:
    """Start the process group when torchrun asks for one; returns the context, the runtime on this rank's device,
    and whether this call started the group (and must end it)."""
    if dist.env_world_size() <= 1:
        return dist.DistContext(), runtime, False
    started = not dist.active()
    device = runtime.device
    if device.type == "cuda":
        local = dist.env_local_rank()
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} CUDA devices; "
                              "start at most one process per GPU (torchrun --nproc_per_node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        runtime = dataclasses.replace(runtime, device=device)
    ctx = dist.init_from_env(device)
    if not ctx.is_main:
        for name in ("", "irlas_darts"):
            logging.getLogger(name).setLevel(logging.ERROR)
    else:
        log.info("distributed search: %d processes (%s backend), global batch %d = %d per rank x %d, sync_bn %s",
                 ctx.world_size, ctx.backend, cfg.search.batch_size, cfg.search.batch_size // ctx.world_size,
                 ctx.world_size, "on" if cfg.search.sync_bn else "off")
    return ctx, runtime, started


def summary(cfg: DictConfig, ctx: dist.DistContext) -> dict[str, Any]:
    """The keys ``metrics.json`` records about the processes (also for a single process)."""
    return {"world_size": ctx.world_size, "per_rank_batch_size": cfg.search.batch_size // ctx.world_size,
            "backend": ctx.backend, "sync_bn": bool(cfg.search.sync_bn) and ctx.enabled}


def load_resume_state(checkpoint: Path, run: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint's state on every rank, read by rank 0 (None when it has none); a bad file fails every rank."""
    state, error = None, None
    if dist.is_main():
        try:
            state = load_checkpoint(checkpoint, run) if checkpoint.is_file() else None
        except CheckpointError as err:
            error = str(err)
    state, error = dist.broadcast_object((state, error))
    if error is not None:
        raise CheckpointError(error)
    return state
