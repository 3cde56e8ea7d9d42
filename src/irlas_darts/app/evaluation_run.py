"""Train and measure one genotype's evaluation network; shared by ``irlas-eval`` and ``irlas-search evaluate.enabled``.

Writes into ``out_dir``: ``metrics.json`` (params without/with the auxiliary head, multiply-adds, latency at batch 1
and ``latency_batch``, ``test_acc`` when trained), ``history.csv`` and ``checkpoint.pt`` (every epoch, for resume).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from ..data import Dataset
from ..evaluation import EvalSettings, Trainer, build_network, count_flops, count_params, measure_latency
from ..spaces import (
    PUBLISHED_GENOTYPES, AnyGenotype, Genotype, GenotypeError, genotype_from_json, genotype_from_text, published_genotype,
)
from .io import load_checkpoint, restore, save_checkpoint, write_csv, write_json
from .progress import progress_bar
from .runtime import Runtime, check_batch, load_data

log = logging.getLogger("irlas_darts.eval")


def resolve_genotype(spec: str) -> AnyGenotype:
    """A published name, a ``genotype.json``/``genotype.txt`` file, or a search run directory holding one."""
    if spec in PUBLISHED_GENOTYPES:
        return published_genotype(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "genotype.json"
    if path.is_file():
        try:
            text = path.read_text(errors="replace")
        except OSError as err:
            raise GenotypeError(f"genotype={spec}: cannot read {path} ({err.strerror or err})") from None
        try:
            return genotype_from_json(json.loads(text)) if path.suffix == ".json" else genotype_from_text(text)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            head = "".join(ch if ch.isprintable() else " " for ch in text.strip()[:80])
            raise GenotypeError(f"genotype={spec}: {path} is not a genotype file (it starts with {head!r}); give a "
                                "genotype.json, a genotype.txt (DARTS Genotype(...) or a NAS-Bench-201 arch string), "
                                f"a search run directory or a published name ({', '.join(PUBLISHED_GENOTYPES)})") \
                from None
    raise GenotypeError(f"genotype={spec} is neither a published name ({', '.join(PUBLISHED_GENOTYPES)}), "
                        "a genotype.json / genotype.txt file, nor a search run directory with a genotype.json")


def network_for(genotype: AnyGenotype, ev: DictConfig, in_channels: int, num_classes: int) -> torch.nn.Module:
    darts = isinstance(genotype, Genotype)
    return build_network(
        genotype, in_channels=in_channels, num_classes=num_classes,
        C=ev.darts_channels if darts else ev.nb201_channels,
        layers=ev.darts_layers if darts else ev.nb201_cells,
        auxiliary=ev.auxiliary and darts, drop_path_prob=ev.drop_path_prob if darts else 0.0, imagenet=ev.imagenet,
    )


def settings_for(ev: DictConfig, runtime: Runtime) -> EvalSettings:
    return EvalSettings(
        epochs=max(ev.epochs, 1), batch_size=ev.batch_size, lr=ev.lr, lr_min=ev.lr_min, momentum=ev.momentum,
        weight_decay=ev.weight_decay, grad_clip=ev.grad_clip, auxiliary_weight=ev.auxiliary_weight,
        drop_path_prob=ev.drop_path_prob, cutout=ev.cutout, autocast_bf16=runtime.bf16,
        channels_last=runtime.channels_last, compile=runtime.compile,
    )


def eval_signature(genotype: AnyGenotype, ev: DictConfig, dataset: Dataset) -> dict[str, Any]:
    """What an evaluation checkpoint depends on: ``resume=true`` refuses one made for another network or data."""
    return {"app": "irlas-eval", "genotype": genotype.to_text(), "dataset": dataset.name, "darts_channels": int(ev.darts_channels),
            "darts_layers": int(ev.darts_layers), "nb201_channels": int(ev.nb201_channels),
            "nb201_cells": int(ev.nb201_cells), "imagenet": bool(ev.imagenet), "auxiliary": bool(ev.auxiliary)}


def evaluate_genotype(
    genotype: AnyGenotype,
    ev: DictConfig,
    dataset_cfg: DictConfig,
    out_dir: str | Path,
    *,
    runtime: Runtime,
    seed: int,
    resume: bool = False,
    progress: bool = True,
    dataset: Dataset | None = None,
    prefix: str = "eval",
) -> dict[str, Any]:
    """Build, train (``ev.epochs`` > 0) and measure; ``dataset`` is loaded from ``dataset_cfg`` unless given.

    ``prefix`` is where ``ev`` sits in the config (``eval``, or ``evaluate`` in irlas-search), for messages.
    """
    out_dir = Path(out_dir)
    device = runtime.device
    torch.manual_seed(seed)
    shape = tuple(int(v) for v in dataset_cfg.shape)
    num_classes = int(dataset_cfg.num_classes)
    if ev.epochs > 0:
        dataset = dataset if dataset is not None else load_data(dataset_cfg, device)
        check_batch(int(ev.batch_size), len(dataset.train_y), f"{prefix}.batch_size", "training split")
        shape, num_classes = tuple(dataset.input_shape), dataset.num_classes
    else:
        dataset = None
    model = network_for(genotype, ev, shape[0], num_classes)
    params, params_aux = count_params(model)
    metrics: dict[str, Any] = {
        "genotype": genotype.to_json(),
        "genotype_text": genotype.to_text(),
        "params": params,
        "params_aux": params_aux,
        "input_shape": list(shape),
        "dataset": dataset_cfg.name,
        "seed": seed,
        "epochs": int(ev.epochs),
        "device": str(device),
        "environment": runtime.environment(),
    }
    if dataset is not None:
        metrics["n_train"] = len(dataset.train_y)
        trainer = Trainer(model, dataset, settings_for(ev, runtime), seed=seed)
        checkpoint = out_dir / "checkpoint.pt"
        signature = eval_signature(genotype, ev, dataset)
        if resume and checkpoint.is_file():
            restore(checkpoint, trainer.load_state_dict, load_checkpoint(checkpoint, signature))
            log.info("resumed evaluation from %s at epoch %d", checkpoint, len(trainer.history))
        start = time.perf_counter()
        while not trainer.done:
            epoch = len(trainer.history) + 1
            row = trainer.train_epoch(progress=progress_bar(f"train {epoch}/{ev.epochs}", enabled=progress))
            log.info("eval epoch %d/%d | loss %.3f | train_acc %.3f | test_acc %s | %.1fs", row["epoch"], ev.epochs,
                     row["train_loss"], row["train_acc"],
                     f"{row['test_acc']:.3f}" if row.get("test_acc") is not None else "-", row["seconds"])
            write_csv(out_dir / "history.csv", trainer.history)
            save_checkpoint(checkpoint, trainer.state_dict(), signature)
        test_loss, test_acc = trainer.evaluate()
        metrics.update(test_acc=test_acc, test_loss=test_loss,
                       train_seconds=sum(r["seconds"] for r in trainer.history) or time.perf_counter() - start)
    # Both measures switch to eval mode: the network as deployed, without auxiliary head or drop path.
    metrics["flops"] = count_flops(model, shape)
    metrics["latency_ms"] = measure_latency(model, shape, batch_sizes=(1, int(ev.latency_batch)), device=device)
    write_json(out_dir / "metrics.json", metrics)
    return metrics
