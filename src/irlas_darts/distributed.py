"""Process-group plumbing for one search over several processes (``torchrun``): PyTorch's own ``torch.distributed``.

``torchrun`` (or ``srun`` with torchrun's environment) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address; ``init_from_env`` reads them and starts the default process group (NCCL on CUDA, gloo on the
CPU). Without those variables, or with ``WORLD_SIZE=1``, no group is started and every helper here is the identity:
a single-process run does exactly what it did before (same numbers, same genotype).

``GlobalBatchNorm2d`` is the batch norm of the exactness switch (``search.sync_bn``): statistics over the global
batch, reduced with a differentiable all-reduce that also supports the double backward of the exact second-order
step. ``torch.nn.SyncBatchNorm`` only runs on GPUs (its forward refuses CPU tensors) and its backward is not twice
differentiable, so it fits neither the gloo tests nor second-order search.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size, its GPU index on the machine and the backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_rank() -> int:
    """This process's rank as torchrun announces it (0 outside torchrun): known before anything is imported or built."""
    return int(os.environ.get("RANK", "0") or 0)


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def env_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def context() -> DistContext:
    """The current context: the started group's, or a single process."""
    if not active():
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), env_local_rank(), str(dist.get_backend()))


def active() -> bool:
    """True when a process group of more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    return rank() == 0


def init_from_env(device: torch.device, timeout_s: float = 1800.0) -> DistContext:
    """Start the default process group from torchrun's environment (NCCL for CUDA, gloo otherwise).

    Does nothing when ``WORLD_SIZE`` is unset or 1, or when a group is already running (tests start their own).
    """
    if env_world_size() <= 1:
        return DistContext()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {}
        if device.type == "cuda":
            kwargs["device_id"] = device  # binds NCCL to this rank's GPU (and lets barrier() pick it)
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s), **kwargs)
    return context()


def destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def _flat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def _unflat(flat: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    out, i = [], 0
    for t in like:
        out.append(flat[i : i + t.numel()].view_as(t))
        i += t.numel()
    return out


def all_reduce_mean(tensors: Sequence[Tensor]) -> list[Tensor]:
    """The mean over ranks of each tensor, in one collective (flattened into one buffer); new detached tensors.

    Without a group the same tensors come back untouched, so single-process code keeps its exact numbers.
    """
    tensors = list(tensors)
    if not active() or not tensors:
        return tensors
    flat = _flat(tensors)
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    return _unflat(flat, tensors)


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """The sum over ranks (a new tensor); the tensor itself without a group."""
    if not active():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (pickled; for checkpoints, paths and error messages)."""
    if not active():
        return obj
    box = [obj if dist.get_rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (tests use it to compare state across ranks)."""
    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank, in one collective."""
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not active() or not buffers:
        return
    flat = _flat(buffers)
    dist.broadcast(flat, src=src)
    with torch.no_grad():
        for b, v in zip(buffers, _unflat(flat, buffers)):
            b.copy_(v)


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose backward is the same sum (again differentiable: double backward works)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:  # noqa: D102
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # noqa: D102
        return _AllReduceSum.apply(grad)

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor) -> Tensor:  # noqa: D102 - linear: the tangent is summed like the value
        return _AllReduceSum.apply(tangent)


def differentiable_all_reduce_sum(tensor: Tensor) -> Tensor:
    return _AllReduceSum.apply(tensor) if active() else tensor


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the global batch (all ranks), on CPU and GPU alike.

    One all-reduce per forward of ``[sum, sum of squares, count]`` in float64 (so the one-pass variance loses no
    precision against the single-process two-pass one). The gradient flows through the reduction, so the average over
    ranks of per-rank gradients is the gradient of the global-batch loss, as with a single process and batch B.
    Outside training, or without a group, it is an ordinary BatchNorm2d.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and active()):
            return super().forward(x)
        dims = (0, 2, 3)
        xd = x.double()
        count = x.new_full((1,), x.numel() // x.shape[1], dtype=torch.float64)
        stats = differentiable_all_reduce_sum(torch.cat([xd.sum(dims), (xd * xd).sum(dims), count]))
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (n / (n - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        shape = (1, c, 1, 1)
        y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var + self.eps).to(x.dtype).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` in ``module`` by a ``GlobalBatchNorm2d`` with the same state (in place)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats, device=_device_of(child))
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_batchnorm(child)
    return module


def _device_of(m: nn.Module) -> torch.device | None:
    t = next(iter(m.buffers()), None)
    return t.device if t is not None else None


__all__ = [
    "DistContext", "GlobalBatchNorm2d", "active", "all_gather_object", "all_reduce_mean", "all_reduce_sum", "barrier",
    "broadcast_buffers", "broadcast_object", "context", "convert_batchnorm", "destroy", "differentiable_all_reduce_sum",
    "env_local_rank", "env_rank", "env_world_size", "init_from_env", "is_main", "rank", "world_size",
]
