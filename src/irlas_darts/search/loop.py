"""The bilevel search loop: per step one architecture update, then one weight update (SPEC §3).

Everything a run needs to continue exactly where it stopped (weights, alphas, both optimizers, the LR schedule, the
data generator, the regularizer's IRL state, the history) is gathered by ``Searcher.state_dict``; the application
saves it after every epoch.

Data parallel (``torchrun``, see ``irlas_darts.distributed``): every rank draws the same global batches from the same
generator (``search.batch_size`` is the global batch), augments the global batch, and keeps its contiguous slice
(``rank_slice``), so the generators stay in lockstep, the union over ranks is each epoch exactly once, and a 2-rank
run sees exactly the data of a 1-process run. The weight step runs through ``DistributedDataParallel``; the
architect averages the alpha gradients (``architect.py`` says where), so the alphas stay bit-identical on every rank;
the epoch's sums and the evaluation are reduced over the ranks, and the BatchNorm running statistics are taken from
rank 0 at every epoch's end, so rank 0's checkpoint is every rank's state.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .. import distributed as dist
from ..data import BatchIterator, rank_slice
from ..ops.lean import twice_differentiable
from ..optim import NonFiniteError, sgd_cosine
from ..regularizers.base import Regularizer
from ..spaces import AnyGenotype, SearchSpace
from ..topology.stats import cell_statistics
from .architect import Architect
from .architecture import Architecture
from .substitution import Substitution


@dataclass
class SearchSettings:
    """Optimisation settings of the search; defaults are DARTS' (Liu et al., 2019, CIFAR-10)."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    order: str = "first"  # "first" | "second"
    # "exact" (reverse over forward) | "exact_recompute" | "double_backward" | "jvp" | "finite_difference"
    hvp: str = "exact"
    autocast_bf16: bool = False
    sync_bn: bool = False  # distributed only: BatchNorm statistics over the global batch (GlobalBatchNorm2d)
    # The memory-lean autograd nodes (ops/lean.py) keep less for backward at a cost in calls; False runs the plain
    # modules: more memory, and faster where a step is bound by the number of calls (make search: 1.1x per epoch).
    lean: bool = True
    # How the supernet's validation accuracy is measured: "batch" normalises with each evaluation batch's statistics
    # (the supernet as it trains; NATS-Bench's choice), "running" with the running statistics (the original DARTS
    # code's). Running statistics start at (0, 1) and move by a tenth per step, so after a few steps they score a
    # constant prediction (NAS-Bench-201, 1000 Fashion-MNIST images: 0.114 where batch statistics give 0.47-0.62).
    eval_bn: str = "batch"


@dataclass
class SearchData:
    """The two halves of the training split, already on the device, and how to augment them."""

    weight_x: torch.Tensor
    weight_y: torch.Tensor
    arch_x: torch.Tensor
    arch_y: torch.Tensor
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None


class Searcher:
    def __init__(
        self,
        space: SearchSpace,
        supernet: nn.Module,
        architecture: Architecture,
        data: SearchData,
        settings: SearchSettings,
        regularizer: Regularizer | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self.space = space
        self.net = supernet
        self.arch = architecture
        self.data = data
        self.settings = settings
        self.regularizer = regularizer or Regularizer(space)
        self.device = data.weight_x.device
        self.world_size, self.rank = dist.world_size(), dist.rank()
        if settings.batch_size % self.world_size:
            raise ValueError(f"search.batch_size={settings.batch_size} is the global batch and must be divisible by "
                             f"the world size {self.world_size}")
        if settings.eval_bn not in ("batch", "running"):
            raise ValueError(f"search.eval_bn={settings.eval_bn!r}: use 'batch' or 'running'")
        if self.world_size > 1 and settings.sync_bn:
            dist.convert_batchnorm(self.net)  # before the optimizer: affine BatchNorms get new parameters
        # Evaluation with batch statistics runs the network with its BatchNorm buffers taken out for the call: a
        # BatchNorm without running statistics normalises with the batch's and updates nothing.
        self._substitute = Substitution(self.net)
        self._no_running_stats = {f"{prefix}.{key}" if prefix else key: None
                                  for prefix, module in self.net.named_modules() if isinstance(module, _BatchNorm)
                                  for key, buffer in module._buffers.items() if buffer is not None}
        self.w_optimizer, self.scheduler = sgd_cosine(
            self.net.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay,
            epochs=settings.epochs, lr_min=settings.lr_min,
        )
        self.architect = Architect(
            self.net,
            self.arch,
            self.w_optimizer,
            order=settings.order,
            hvp=settings.hvp,
            lr=settings.arch_lr,
            betas=tuple(settings.arch_betas),
            weight_decay=settings.arch_weight_decay,
        )
        # Batch order and augmentation draw only from this generator, so its saved state fixes the rest of the run.
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        # The weight step's forward and backward: through DDP (which averages the weight gradients) when distributed.
        self.train_net: nn.Module = self.net
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" and self.device.index is not None else None
            # BatchNorm buffers are synced at the epoch's end (dist.broadcast_buffers), not before every forward.
            no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel)
                       .parameters else "broadcast_buffers")
            self.train_net = DistributedDataParallel(self.net, device_ids=ids, **{no_sync: False})
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self._held_steps = 0  # architecture steps of this epoch that guard_total held (arch_constraint)
        # The prior reads what the genotype is derived from: the algorithm's derivation logits (DARTS: the alphas).
        self.regularizer.start(self.arch.derivation_logits(), self.arch.genotype())

    # --- one epoch ---------------------------------------------------------------------------------------------------
    def _batches(self, x: torch.Tensor, y: torch.Tensor) -> BatchIterator:
        return BatchIterator(x, y, self.settings.batch_size, shuffle=True, drop_last=True, generator=self.generator)

    def _autocast(self):
        enabled = self.settings.autocast_bf16 and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def train_epoch(self, progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
        """One pass over the weight half, paired step by step with batches of the architecture half."""
        self.net.train()
        self.arch.start_epoch(self.epoch, self.settings.epochs)  # the algorithm's schedules (GDAS' tau, beta-decay)
        lr = self.w_optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        d = self.data
        w_batches, a_batches = self._batches(d.weight_x, d.weight_y), self._batches(d.arch_x, d.arch_y)
        steps = min(len(w_batches), len(a_batches))
        sums = torch.zeros(5, device=self.device)  # loss, correct, n, arch_loss, reg_loss
        self._held_steps = 0
        bar = progress(steps) if progress else None
        for (xw, yw), (xa, ya) in zip(w_batches, a_batches):
            if d.augment is not None:
                xw, xa = d.augment(xw, self.generator), d.augment(xa, self.generator)
            if self.world_size > 1:  # this rank's shard of the global batches, augmented as a whole above
                part = rank_slice(len(yw), self.rank, self.world_size)
                xw, yw, xa, ya = xw[part], yw[part], xa[part], ya[part]
            sums += self.step(xw, yw, xa, ya, lr)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        self.scheduler.step()
        loss_sum, correct, n, arch_sum, reg_sum = dist.all_reduce_sum(sums).tolist()
        n = max(n, 1.0)
        row = {
            "epoch": self.epoch + 1,
            "train_loss": loss_sum / n,
            "train_acc": correct / n,
            "arch_loss": arch_sum / n,
            "reg_loss": reg_sum / n,
            "lr": lr,
        }
        dist.broadcast_buffers(self.net)  # rank 0's running statistics everywhere: its checkpoint is every rank's
        val_loss, val_acc = self.evaluate(d.arch_x, d.arch_y)
        row.update(val_loss=val_loss, val_acc=val_acc)
        self._check_finite(row)
        genotype = self.arch.genotype()
        row.update(self.regularizer.update(self.epoch, self.arch.derivation_logits(), genotype))
        row.update(self.arch.algorithm.state())
        if self._guards_total():  # how often the prior's guard_total held the architecture step this epoch
            row["guard_held_steps"] = self._held_steps
        for cell in genotype.cell_types:  # per epoch: kept skip + pool edges (the collapse measure), the shortcut
            stats = cell_statistics(self.space, genotype, cell)
            row[f"param_free_{cell}"] = stats["param_free"]
            row[f"shortcut_{cell}"] = int(stats["shortcut"])
        row["genotype"] = genotype.to_text()
        row["seconds"] = time.perf_counter() - start
        self.epoch += 1
        self.history.append(row)
        return row

    def step(self, xw: torch.Tensor, yw: torch.Tensor, xa: torch.Tensor, ya: torch.Tensor, lr: float) -> torch.Tensor:
        """One architecture update on (xa, ya), then one weight update on (xw, yw).

        Returns ``[loss * n, correct, n, arch_loss * n, reg_loss * n]`` as a device tensor: no host sync per step.
        """
        with self._modules():
            return self._step(xw, yw, xa, ya, lr)

    def _modules(self):
        return contextlib.nullcontext() if self.settings.lean else twice_differentiable()

    def _step(self, xw: torch.Tensor, yw: torch.Tensor, xa: torch.Tensor, ya: torch.Tensor, lr: float) -> torch.Tensor:
        with self._autocast():
            constraint = self.arch_constraint if self._guards_total() else None
            arch_log = self.architect.step(xw, yw, xa, ya, lr_w=lr, penalty=self.arch_penalty, constraint=constraint)
        self.w_optimizer.zero_grad(set_to_none=True)
        probs = {c: p.detach() for c, p in self.arch.probs().items()}
        with self._autocast():
            logits = self.train_net(xw, probs)
            loss = F.cross_entropy(logits.float(), yw)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.settings.grad_clip)
        self.w_optimizer.step()
        with torch.no_grad():
            n = loss.detach().new_full((), float(yw.numel()))  # a fill on the device, not a host copy
            return torch.stack([
                loss.detach() * n, (logits.argmax(-1) == yw).sum().float(), n,
                arch_log["arch_loss"].float() * n, arch_log["penalty"].float() * n,
            ])

    def arch_penalty(self, alphas: dict[str, torch.Tensor]) -> torch.Tensor:
        """The architecture loss beside ``L_val``: the prior on the algorithm's derivation logits (``alphas``, the
        cells' raw alphas the architect passes, are those for DARTS) plus the algorithm's own term (DrNAS' KL,
        beta-decay)."""
        penalty = self.regularizer.loss(self.arch.derivation_logits())
        extra = self.arch.extra_loss()
        return penalty if extra is None else penalty + extra

    def _guards_total(self) -> bool:
        return bool(getattr(self.regularizer, "guard_total", False))

    def arch_constraint(self) -> list[torch.Tensor]:
        """Masses the architecture step must not raise (the prior's ``guard_total``); usually none. Counts the steps
        that had any (history column ``guard_held_steps``): the guard's work made visible per epoch."""
        masses = self.regularizer.excess_masses(self.arch.derivation_logits())
        self._held_steps += bool(masses)
        return masses

    def _check_finite(self, row: dict[str, Any]) -> None:
        bad = [k for k in ("train_loss", "val_loss", "arch_loss") if not math.isfinite(row[k])]
        if not self.arch.all_finite():
            bad.append("alphas")
        if bad:
            raise NonFiniteError(f"non-finite {', '.join(bad)} in epoch {self.epoch + 1}; "
                                 "lower search.lr or search.arch_lr (the last good checkpoint is kept)")

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> tuple[float, float]:
        """Supernet loss and accuracy (under the current soft architecture) without augmentation.

        BatchNorm as ``settings.eval_bn`` says: the batch's statistics (without touching the running ones, and on each
        rank alone, even with ``sync_bn``) or the running ones. Distributed, the ranks share the chunks and the sums
        are reduced.
        """
        was_training = self.net.training
        self.net.eval()
        probs = self.arch.probs()
        total = torch.zeros(2, device=self.device)
        # With batch statistics a chunk's logits depend on the whole chunk, so the chunks are fixed for the whole set
        # (equal sizes, none tiny) and dealt out to the ranks: any world size evaluates the same chunks.
        chunks = math.ceil(len(x) / batch_size)
        bounds = [len(x) * j // chunks for j in range(chunks + 1)]
        batch_statistics = self.settings.eval_bn == "batch"
        with self._substitute(self._no_running_stats) if batch_statistics else contextlib.nullcontext():
            for j in range(self.rank, chunks, self.world_size):
                xb, yb = x[bounds[j] : bounds[j + 1]], y[bounds[j] : bounds[j + 1]]
                with self._autocast():
                    logits = self.net(xb, probs).float()
                total += torch.stack([F.cross_entropy(logits, yb, reduction="sum"),
                                      (logits.argmax(-1) == yb).sum().float()])
        self.net.train(was_training)
        loss, correct = dist.all_reduce_sum(total).tolist()
        return loss / max(len(x), 1), correct / max(len(x), 1)

    def genotype(self) -> AnyGenotype:
        return self.arch.genotype()

    @property
    def done(self) -> bool:
        return self.epoch >= self.settings.epochs

    # --- state --------------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "weights": self.net.state_dict(),
            "alphas": self.arch.state_dict(),
            "w_optimizer": self.w_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "architect": self.architect.state_dict(),
            "regularizer": self.regularizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.net.load_state_dict(state["weights"])
        self.arch.load_state_dict(state["alphas"])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.architect.load_state_dict(state["architect"])
        self.regularizer.load_state_dict(state["regularizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.history = list(state["history"])
