"""``irlas-search``: config → data + space + supernet + regularizer → search loop → genotype + metrics.

Outputs land in the Hydra run directory (see README, "Outputs"); every file is written atomically and the checkpoint
after every epoch lets ``resume=true`` finish with exactly the result of an uninterrupted run.
"""

from __future__ import annotations

import logging
import platform
import random
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .. import __version__
from ..data import load_dataset, split_train
from ..regularizers import create_regularizer
from ..search.architecture import Architecture
from ..search.loop import SearchData, Searcher, SearchSettings
from ..search.supernet import create_supernet
from ..spaces import SearchSpace, create_space
from ..topology import cell_statistics, collapse_threshold, expert_cells
from ..viz import draw_genotype
from .config import conf_dir, register_configs, regularizer_options, validate_search_config
from .errors import run_guarded
from .io import atomic_write_text, load_checkpoint, save_checkpoint, write_csv, write_json
from .progress import progress_bar
from .tracking import Tracker

log = logging.getLogger("irlas_darts.search")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def environment(device: torch.device) -> dict[str, Any]:
    """What a reader needs to reproduce the run besides the config (which Hydra saves in .hydra/)."""
    return {
        "irlas_darts": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "threads": torch.get_num_threads(),
    }


def build_searcher(cfg: DictConfig, device: torch.device) -> tuple[Searcher, SearchSpace, Any]:
    """Everything the loop needs, built in a fixed order from the seed so that a run is a function of its config."""
    seed_everything(cfg.seed)
    dataset = load_dataset(cfg.dataset.name, cfg.dataset.root, device=device, **cfg.dataset.options)
    train_x, train_y = dataset.train_x, dataset.train_y
    if cfg.dataset.limit:
        train_x, train_y = train_x[: cfg.dataset.limit], train_y[: cfg.dataset.limit]
    split_gen = torch.Generator().manual_seed(cfg.seed)
    w_idx, a_idx = split_train(len(train_x), cfg.dataset.weight_fraction, split_gen)
    w_idx, a_idx = w_idx.to(device), a_idx.to(device)
    data = SearchData(train_x[w_idx], train_y[w_idx], train_x[a_idx], train_y[a_idx], augment=None if dataset.augment.is_identity else dataset.augment)

    space = create_space(cfg.space.name)
    supernet = create_supernet(
        space,
        in_channels=dataset.input_shape[0],
        num_classes=dataset.num_classes,
        C=cfg.space.channels,
        layers=cfg.space.layers,
        channels_last=cfg.runtime.channels_last and device.type == "cuda",
    ).to(device)
    arch = Architecture(space, generator=torch.Generator().manual_seed(cfg.seed)).to(device)

    name, options = regularizer_options(cfg)
    options.setdefault("seed", cfg.seed)  # draws of `samples` > 0 follow the run's seed
    experts = expert_cells(space, list(cfg.expert[space.name]))
    regularizer = create_regularizer(name, space, expert=experts, **options)

    s = cfg.search
    settings = SearchSettings(
        epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, lr_min=s.lr_min, momentum=s.momentum,
        weight_decay=s.weight_decay, grad_clip=s.grad_clip, arch_lr=s.arch_lr, arch_betas=(s.arch_beta1, s.arch_beta2),
        arch_weight_decay=s.arch_weight_decay, order=s.order, hvp=s.hvp,
        autocast_bf16=cfg.runtime.bf16 and device.type == "cuda",
    )
    if cfg.runtime.compile and device.type == "cuda":
        supernet = torch.compile(supernet)
    searcher = Searcher(space, supernet, arch, data, settings, regularizer, seed=cfg.seed)
    return searcher, space, dataset


def collapsed_cells(space: SearchSpace, genotype: Any) -> dict[str, dict[str, Any]]:
    """The derived cells that have collapsed (see ``cell_statistics``), with their statistics."""
    stats = {cell: cell_statistics(space, genotype, cell) for cell in genotype.cell_types}
    return {cell: st for cell, st in stats.items() if st["collapsed"]}


def collapse_warning(space: SearchSpace, cell: str, stats: dict[str, Any], where: str) -> str:
    return (f"collapse: {where} has a {cell} cell with {stats['param_free']} parameter-free edges of "
            f"{stats['edges']} (threshold {collapse_threshold(space)}, conv depth {stats['conv_depth']}); "
            "see README, 'The prior'")


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['train_loss']:.3f}", f"train_acc {row['train_acc']:.3f}",
             f"val_acc {row['val_acc']:.3f}", f"lr {row['lr']:.4f}"]
    for key in ("F", "margin", "distance_to_expert"):
        if key in row and row[key] is not None:
            parts.append(f"{key} {row[key]:.3f}")
    parts.append(f"{row['seconds']:.1f}s")
    return " | ".join(parts) + f" | {row['genotype']}"


def run_search(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Run (or resume) one search in ``run_dir`` and return its metrics."""
    validate_search_config(cfg)
    run_dir = Path(run_dir)
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    device = resolve_device(cfg.device)
    searcher, space, dataset = build_searcher(cfg, device)
    checkpoint = run_dir / "checkpoint.pt"
    if cfg.resume and checkpoint.is_file():
        searcher.load_state_dict(load_checkpoint(checkpoint))
        log.info("resumed from %s at epoch %d", checkpoint, searcher.epoch)
    elif cfg.resume:
        log.warning("resume=true but %s does not exist; starting from epoch 0", checkpoint)

    tracker = Tracker(cfg, run_dir)
    elapsed = sum(row["seconds"] for row in searcher.history)
    epochs = cfg.search.epochs
    collapsed = collapsed_cells(space, searcher.genotype())
    while not searcher.done:
        bar = progress_bar(f"epoch {searcher.epoch + 1}/{epochs}", enabled=cfg.logger.progress)
        row = searcher.train_epoch(progress=bar)
        elapsed += row["seconds"]
        log.info(epoch_line(row, epochs))
        now = collapsed_cells(space, searcher.genotype())
        for cell in sorted(set(now) - set(collapsed)):
            log.warning(collapse_warning(space, cell, now[cell], f"epoch {row['epoch']}"))
        collapsed = now
        write_csv(run_dir / "history.csv", searcher.history)
        save_checkpoint(checkpoint, searcher.state_dict())
        tracker.log_epoch(row)

    genotype = searcher.genotype()
    alphas = {c: a.detach().cpu() for c, a in searcher.arch.as_dict().items()}
    metrics: dict[str, Any] = {
        "val_acc": searcher.history[-1]["val_acc"],
        "val_loss": searcher.history[-1]["val_loss"],
        "seed": cfg.seed,
        "epochs": epochs,
        "search_seconds": elapsed,
        "space": space.name,
        "dataset": cfg.dataset.name,
        "regularizer": cfg.regularizer.name,
        "genotype": genotype.to_json(),
        "genotype_text": genotype.to_text(),
        "topology": searcher.regularizer.summary(alphas, genotype),
        "cell_stats": {cell: cell_statistics(space, genotype, cell) for cell in genotype.cell_types},
        "collapsed": sorted(collapsed_cells(space, genotype)),
        "alphas": {c: a.tolist() for c, a in alphas.items()},
        "environment": environment(device),
    }
    if space.name == "nb201":
        metrics["arch_str"] = genotype.to_text()
    if cfg.benchmark.table:
        from ..evaluation.benchmark import lookup_arch

        metrics["benchmark"] = lookup_arch(cfg.benchmark.table, genotype.to_text(),
                                           arch_column=cfg.benchmark.arch_column,
                                           accuracy_columns=list(cfg.benchmark.accuracy_columns) or None)
    write_json(run_dir / "genotype.json", genotype.to_json())
    atomic_write_text(run_dir / "genotype.txt", genotype.to_text() + "\n")
    pictures = draw_genotype(genotype, run_dir, prefix="cell")
    write_json(run_dir / "metrics.json", metrics)
    if cfg.evaluate.enabled:
        from .evaluation_run import evaluate_genotype

        cuda = device.type == "cuda"
        ev = evaluate_genotype(genotype, cfg.evaluate, cfg.dataset, run_dir / "eval", device=device, seed=cfg.seed,
                               resume=cfg.resume, progress=cfg.logger.progress, bf16=cfg.runtime.bf16 and cuda,
                               channels_last=cfg.runtime.channels_last and cuda)
        metrics["eval"] = {k: ev[k] for k in ("test_acc", "params", "params_aux", "flops", "latency_ms") if k in ev}
        write_json(run_dir / "metrics.json", metrics)
    tracker.finish(metrics, run_dir / "genotype.json", pictures)
    log.info("genotype: %s", genotype.to_text())
    for cell, stats in collapsed_cells(space, genotype).items():
        log.warning(collapse_warning(space, cell, stats, "the final genotype"))
    log.info("supernet val_acc %.4f after %d epochs (%.1fs); outputs in %s", metrics["val_acc"], epochs, elapsed, run_dir)
    return metrics


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="irlas_search")
def _hydra_main(cfg: DictConfig) -> float:
    metrics = run_guarded("irlas-search", lambda: run_search(cfg, HydraConfig.get().runtime.output_dir))
    return float(metrics["val_acc"])


def main() -> None:
    register_configs()
    _hydra_main()


if __name__ == "__main__":
    main()
