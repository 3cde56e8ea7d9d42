"""Training a genotype's evaluation network from scratch, epoch by epoch, with exact resume (SPEC §5).

The recipe is DARTS' CIFAR evaluation: SGD with momentum, cosine learning rate to ``lr_min``, gradient clipping,
auxiliary loss, drop path ramped linearly over the epochs, crop + flip + cutout. Batch order, augmentation and
drop-path masks all draw from one CPU generator, so ``state_dict`` after any epoch fixes the rest of the run.
"""

from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import AugmentSpec, BatchIterator, Dataset
from ..optim import NonFiniteError, sgd_cosine


@dataclass
class EvalSettings:
    """Defaults are DARTS' CIFAR-10 evaluation (Liu et al., 2019)."""

    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2  # final value; epoch e trains with drop_path_prob * e / epochs
    cutout: int | None = None  # square side in px; None = half the image side (DARTS' 16 on 32 px), 0 = off
    augment: bool = True  # crop/flip as the dataset allows, then cutout; False turns all of it off
    eval_batch_size: int = 512
    eval_every: int = 1  # test-split metrics in the epoch row every k epochs (always after the last); 0 = last only
    autocast_bf16: bool = False  # CUDA only
    channels_last: bool = False  # CUDA only
    compile: bool = False  # torch.compile the training forward, CUDA only

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError(f"EvalSettings: epochs={self.epochs}, batch_size={self.batch_size}, eval_batch_size="
                             f"{self.eval_batch_size}; all must be >= 1")
        if not 0.0 <= self.drop_path_prob < 1.0:
            raise ValueError(f"EvalSettings.drop_path_prob={self.drop_path_prob}; use a value in [0, 1)")
        if self.cutout is not None and self.cutout < 0:
            raise ValueError(f"EvalSettings.cutout={self.cutout}; use a length in px, 0 for off or None for auto")


def augmentation(dataset: Dataset, settings: EvalSettings) -> AugmentSpec:
    """The dataset's own crop/flip policy plus cutout of ``settings.cutout`` px (auto: half the image side)."""
    if not settings.augment:
        return AugmentSpec()
    side = min(dataset.input_shape[1:])
    length = side // 2 if settings.cutout is None else settings.cutout
    return AugmentSpec(crop_padding=dataset.augment.crop_padding, flip=dataset.augment.flip, cutout=length)


class Trainer:
    """Trains ``model`` (``forward(x) -> (logits, logits_aux | None)``) on ``dataset``'s train split."""

    def __init__(self, model: nn.Module, dataset: Dataset, settings: EvalSettings, seed: int = 0) -> None:
        self.dataset = dataset
        self.settings = settings
        self.device = dataset.device
        cuda = self.device.type == "cuda"
        self.channels_last = settings.channels_last and cuda
        self.bf16 = settings.autocast_bf16 and cuda
        self.model = model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # The compiled wrapper only runs the training steps; attributes (drop path) are still set on the model.
        self.forward = torch.compile(self.model) if settings.compile and cuda else self.model
        self.optimizer, self.scheduler = sgd_cosine(self.model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                                    weight_decay=settings.weight_decay, epochs=settings.epochs,
                                                    lr_min=settings.lr_min)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        if hasattr(self.model, "generator"):
            self.model.generator = self.generator  # drop-path masks
        self.augment = augmentation(dataset, settings)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []

    @property
    def done(self) -> bool:
        return self.epoch >= self.settings.epochs

    def _autocast(self) -> AbstractContextManager:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def drop_path_prob(self, epoch: int) -> float:
        """DARTS' linear ramp: 0 in the first epoch, approaching ``settings.drop_path_prob`` in the last."""
        return self.settings.drop_path_prob * epoch / self.settings.epochs

    def train_epoch(self, progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
        """One pass over the shuffled, augmented train split; returns (and records) the epoch's row."""
        if self.done:
            raise RuntimeError(f"Trainer: all {self.settings.epochs} epochs are done; raise settings.epochs to go on")
        s = self.settings
        start = time.perf_counter()
        self.model.train()
        drop_prob = 0.0  # networks without drop path (NAS-Bench-201) report 0
        if hasattr(self.model, "drop_path_prob"):
            drop_prob = self.model.drop_path_prob = self.drop_path_prob(self.epoch)
        lr = self.optimizer.param_groups[0]["lr"]
        batches = BatchIterator(self.dataset.train_x, self.dataset.train_y, s.batch_size, shuffle=True,
                                drop_last=True, augment=None if self.augment.is_identity else self.augment,
                                generator=self.generator)
        sums = torch.zeros(4, device=self.device)  # loss, aux loss, correct, n
        bar = progress(len(batches)) if progress else None
        for x, y in batches:
            with self._autocast():
                logits, logits_aux = self.forward(self._prepare(x))
                loss = F.cross_entropy(logits.float(), y)
                aux_loss = F.cross_entropy(logits_aux.float(), y) if logits_aux is not None else loss.new_zeros(())
            self.optimizer.zero_grad(set_to_none=True)
            (loss + s.auxiliary_weight * aux_loss).backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
            self.optimizer.step()
            with torch.no_grad():
                n = y.numel()
                sums += torch.stack([loss.detach() * n, aux_loss.detach() * n,
                                     (logits.argmax(-1) == y).sum().float(), loss.new_tensor(float(n))])
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        self.scheduler.step()
        loss_sum, aux_sum, correct, n = sums.tolist()
        n = max(n, 1.0)
        row: dict[str, Any] = {
            "epoch": self.epoch + 1, "train_loss": loss_sum / n, "train_acc": correct / n, "lr": lr,
            "drop_path_prob": drop_prob,
        }
        if getattr(self.model, "auxiliary", False):
            row["train_aux_loss"] = aux_sum / n
        if not math.isfinite(row["train_loss"]):
            raise NonFiniteError(f"non-finite train_loss in epoch {self.epoch + 1}; lower the learning rate "
                                 "(eval.lr; the last good checkpoint is kept)")
        self.epoch += 1
        if self.done or (s.eval_every > 0 and self.epoch % s.eval_every == 0):
            row["test_loss"], row["test_acc"] = self.evaluate()
            if not math.isfinite(row["test_loss"]):
                self.epoch -= 1
                raise NonFiniteError(f"non-finite test_loss in epoch {self.epoch + 1}; lower the learning rate "
                                     "(the last good checkpoint is kept)")
        row["seconds"] = time.perf_counter() - start
        self.history.append(row)
        return row

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Mean cross-entropy and accuracy on the test split (eval mode, no augmentation)."""
        x_all, y_all = self.dataset.test_x, self.dataset.test_y
        was_training = self.model.training
        self.model.eval()
        total = torch.zeros(2, device=self.device)
        try:
            for i in range(0, len(x_all), self.settings.eval_batch_size):
                x, y = x_all[i : i + self.settings.eval_batch_size], y_all[i : i + self.settings.eval_batch_size]
                with self._autocast():
                    logits = self.model(self._prepare(x))[0].float()
                total += torch.stack([F.cross_entropy(logits, y, reduction="sum"),
                                      (logits.argmax(-1) == y).sum().float()])
        finally:
            self.model.train(was_training)
        loss, correct = total.tolist()
        n = max(len(x_all), 1)
        return loss / n, correct / n

    # --- state ------------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs; live references, so save (serialize) it before training on."""
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "history": [dict(r) for r in self.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        self.history = [dict(r) for r in state["history"]]
