"""``irlas-search``: config → data + space + supernet + regularizer → search loop → genotype + metrics.

Outputs land in the Hydra run directory (see README, "Outputs"); every file is written atomically and the checkpoint
after every epoch lets ``resume=true`` finish with exactly the result of an uninterrupted run. Under ``torchrun``
(``launch.py``) every rank runs the search and rank 0 alone writes, logs and tracks.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .. import distributed as dist
from ..data import Dataset, split_train
from ..regularizers import create_regularizer
from ..search.algorithms import create_algorithm
from ..search.architecture import Architecture
from ..search.loop import SearchData, Searcher, SearchSettings
from ..search.supernet import create_supernet
from ..spaces import SearchSpace, create_space
from ..topology import cell_statistics, collapse_threshold, expert_cells
from .benchmarks import EPOCH_COLUMN, Benchmarks
from .cli import hydra_entry
from .config import AlgorithmConfig, algorithm_options, conf_dir, regularizer_options, validate_search_config
from .errors import run_guarded
from .io import atomic_write_text, restore, save_checkpoint, write_csv, write_json
from .launch import check_world, load_resume_state, rank_overrides, start, summary
from .progress import progress_bar
from .rundir import discard_if_rejected
from .runtime import Runtime, check_batch, load_data, seed_everything, setup_runtime
from .tracking import Tracker

log = logging.getLogger("irlas_darts.search")


def build_searcher(cfg: DictConfig, runtime: Runtime) -> tuple[Searcher, SearchSpace, Dataset]:
    """Everything the loop needs, built in a fixed order from the seed so that a run is a function of its config."""
    seed_everything(cfg.seed)
    device = runtime.device
    dataset = load_data(cfg.dataset, device)
    train_x, train_y = dataset.train_x, dataset.train_y
    split_gen = torch.Generator().manual_seed(cfg.seed)
    w_idx, a_idx = split_train(len(train_x), cfg.dataset.weight_fraction, split_gen)
    check_batch(cfg.search.batch_size, min(len(w_idx), len(a_idx)), "search.batch_size",
                "smaller half of the training split (dataset.weight_fraction)")
    w_idx, a_idx = w_idx.to(device), a_idx.to(device)
    data = SearchData(train_x[w_idx], train_y[w_idx], train_x[a_idx], train_y[a_idx], augment=None if dataset.augment.is_identity else dataset.augment)

    space = create_space(cfg.space.name)
    algorithm_name, algorithm_settings = algorithm_options(cfg)
    algorithm = create_algorithm(algorithm_name, space, **algorithm_settings)
    supernet = create_supernet(
        space,
        in_channels=dataset.input_shape[0],
        num_classes=dataset.num_classes,
        C=cfg.space.channels,
        layers=cfg.space.layers,
        # On the CPU the supernet always runs channels-last: 1.5-1.7x faster steps in both spaces (depthwise and 3x3
        # kernels); experiments/bench_vs_darts.py --channels-last 0 measures the other layout.
        channels_last=runtime.channels_last or device.type == "cpu",
    )
    supernet = algorithm.adapt_supernet(supernet).to(device)  # PC-DARTS' partial channels, GDAS' one-op edges
    if getattr(supernet, "channels_last", False):
        supernet.to(memory_format=torch.channels_last)  # the edges an algorithm has just built, too
    arch = Architecture(space, generator=torch.Generator().manual_seed(cfg.seed), algorithm=algorithm).to(device)

    name, options = regularizer_options(cfg)
    options.setdefault("seed", cfg.seed)  # draws of `samples` > 0 follow the run's seed
    experts = expert_cells(space, list(cfg.expert[space.name]))
    regularizer = create_regularizer(name, space, expert=experts, **options)

    s = cfg.search
    settings = SearchSettings(
        epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, lr_min=s.lr_min, momentum=s.momentum,
        weight_decay=s.weight_decay, grad_clip=s.grad_clip, arch_lr=s.arch_lr, arch_betas=(s.arch_beta1, s.arch_beta2),
        arch_weight_decay=s.arch_weight_decay, order=s.order, hvp=s.hvp,
        autocast_bf16=runtime.bf16, sync_bn=s.sync_bn, lean=s.lean, eval_bn=s.eval_bn,
    )
    if runtime.compile:
        supernet = torch.compile(supernet)
    searcher = Searcher(space, supernet, arch, data, settings, regularizer, seed=cfg.seed)
    return searcher, space, dataset


def collapsed_cells(space: SearchSpace, genotype: Any) -> dict[str, dict[str, Any]]:
    """The derived cells that have collapsed (see ``cell_statistics``), with their statistics."""
    stats = {cell: cell_statistics(space, genotype, cell) for cell in genotype.cell_types}
    return {cell: st for cell, st in stats.items() if st["collapsed"]}


def collapse_warning(space: SearchSpace, cell: str, stats: dict[str, Any], where: str) -> str:
    name = "the cell" if cell == "cell" else f"the {cell} cell"  # NAS-Bench-201's one cell type is called "cell"
    return (f"collapse: {where}, {name} has {stats['param_free']} parameter-free edges of {stats['edges']} "
            f"(threshold {collapse_threshold(space)}, conv depth {stats['conv_depth']}); see README, 'The prior'")


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """One short line per epoch: losses, accuracies, lr, the prior's margin and distance, the collapse counts, time.

    The genotype is not repeated on every line: ``genotype_change`` logs it when it changes, and the run's end in full.
    """
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['train_loss']:.3f} val {row['val_loss']:.3f}",
             f"acc {row['train_acc']:.3f} val {row['val_acc']:.3f}", f"lr {row['lr']:.4f}"]
    for key, name in (("margin", "margin"), ("distance_to_expert", "distance")):
        if row.get(key) is not None:
            parts.append(f"{name} {row[key]:.3f}")
    if row.get(EPOCH_COLUMN) is not None:  # NB201: the derived cell's benchmark accuracy
        parts.append(f"bench {row[EPOCH_COLUMN]:.2f}")
    for key in sorted(k for k in row if k.startswith("param_free")):
        parts.append(f"param_free {key[len('param_free'):].lstrip('_')} {row[key]}".replace("  ", " "))
    parts.append(f"{row['seconds']:.1f}s")
    return " | ".join(parts)


def genotype_change(history: list[dict[str, Any]]) -> str | None:
    """A log line when the last epoch's genotype differs from the one before (or is the first)."""
    if not history or (len(history) > 1 and history[-1]["genotype"] == history[-2]["genotype"]):
        return None
    return f"epoch {history[-1]['epoch']}: genotype {'changed to' if len(history) > 1 else 'is'} {history[-1]['genotype']}"


def prepare_benchmark(cfg: DictConfig) -> Benchmarks:
    """Read and check the NAS-Bench-201 table (and NATS-Bench file) before the search: a bad one must not cost a search."""
    return Benchmarks.open(cfg.benchmark, cfg.space.name)


def run_signature(cfg: DictConfig) -> dict[str, Any]:
    """The settings a search checkpoint depends on: ``resume=true`` refuses a checkpoint made with others."""
    run = {"app": "irlas-search", "space": cfg.space.name, "channels": int(cfg.space.channels), "layers": int(cfg.space.layers),
           "dataset": cfg.dataset.name, "regularizer": cfg.regularizer.name, "expert": cfg.expert.name}
    name, options = algorithm_options(cfg)
    # None for plain DARTS, which checkpoints written before the algorithm group did not record either
    plain = {"name": name, **options} == dataclasses.asdict(AlgorithmConfig())
    run["algorithm"] = None if plain else {"name": name, **options}
    return run


def run_search(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Run (or resume) one search in ``run_dir`` and return its metrics (on every rank; rank 0 writes them)."""
    validate_search_config(cfg)
    check_world(cfg)
    runtime = setup_runtime(cfg)
    ctx, runtime, started = start(cfg, runtime)
    try:
        return _run_search(cfg, Path(run_dir), runtime, ctx)
    finally:
        if started:
            dist.destroy()


def _run_search(cfg: DictConfig, run_dir: Path, runtime: Runtime, ctx: dist.DistContext) -> dict[str, Any]:
    main = ctx.is_main
    bench = prepare_benchmark(cfg)
    searcher, space, dataset = build_searcher(cfg, runtime)
    checkpoint = run_dir / "checkpoint.pt"
    if cfg.resume:
        state = load_resume_state(checkpoint, run_signature(cfg))
        if state is not None:
            restore(checkpoint, searcher.load_state_dict, state)
            log.info("resumed from %s at epoch %d", checkpoint, searcher.epoch)
        else:
            log.warning("resume=true but %s does not exist; starting from epoch 0", checkpoint)
    elif main and checkpoint.is_file():
        log.warning("%s already holds a search (checkpoint.pt): starting it over, its outputs are replaced as this "
                    "run writes its own; resume=true would continue it", run_dir)

    tracker = Tracker(cfg, run_dir, enabled=main)
    elapsed = sum(row["seconds"] for row in searcher.history)
    epochs = cfg.search.epochs
    collapsed = collapsed_cells(space, searcher.genotype())
    while not searcher.done:
        bar = progress_bar(f"epoch {searcher.epoch + 1}/{epochs}", enabled=cfg.logger.progress and main)
        row = searcher.train_epoch(progress=bar)
        if bench.table is not None:  # the row is the history's: history.csv and the checkpoint carry it
            row[EPOCH_COLUMN] = bench.epoch_score(row["genotype"])
        change = genotype_change(searcher.history)
        if change:
            log.info(change)
        elapsed += row["seconds"]
        log.info(epoch_line(row, epochs))
        now = collapsed_cells(space, searcher.genotype())
        for cell in sorted(set(now) - set(collapsed)):
            log.warning(collapse_warning(space, cell, now[cell], f"epoch {row['epoch']}"))
        collapsed = now
        if main:
            write_csv(run_dir / "history.csv", searcher.history)
            save_checkpoint(checkpoint, searcher.state_dict(), run_signature(cfg))
        tracker.log_epoch(row)

    genotype = searcher.genotype()
    alphas = {c: a.detach().cpu() for c, a in searcher.arch.as_dict().items()}
    prior_view = {c: a.detach().cpu() for c, a in searcher.arch.derivation_logits().items()}
    metrics: dict[str, Any] = {
        "val_acc": searcher.history[-1]["val_acc"],
        "val_loss": searcher.history[-1]["val_loss"],
        "eval_bn": cfg.search.eval_bn,  # BatchNorm statistics behind val_acc: batch | running
        "seed": cfg.seed,
        "epochs": epochs,
        "search_seconds": elapsed,
        "space": space.name,
        "dataset": cfg.dataset.name,
        "n_train": {"weights": len(searcher.data.weight_y), "architecture": len(searcher.data.arch_y)},
        "regularizer": cfg.regularizer.name,
        "genotype": genotype.to_json(),
        "genotype_text": genotype.to_text(),
        "algorithm": searcher.arch.algorithm.options(),
        "topology": searcher.regularizer.summary(prior_view, genotype),
        "cell_stats": {cell: cell_statistics(space, genotype, cell) for cell in genotype.cell_types},
        "collapsed": sorted(collapsed_cells(space, genotype)),
        "alphas": {c: a.tolist() for c, a in alphas.items()},
        "environment": {**runtime.environment(), "supernet_channels_last": bool(getattr(searcher.net, "channels_last", False))},
        **summary(cfg, ctx),
    }
    if space.name == "nb201":
        metrics["arch_str"] = genotype.to_text()
    dist.barrier()  # every rank is past its last collective; what follows is rank 0's alone
    if not main:
        return metrics
    # The search's outputs first; then what may still fail (lookup, pictures, evaluation) cannot lose them.
    write_json(run_dir / "genotype.json", genotype.to_json())
    atomic_write_text(run_dir / "genotype.txt", genotype.to_text() + "\n")
    write_json(run_dir / "metrics.json", metrics)
    if bench.active:
        metrics.update(bench.final(genotype.to_text()))
        write_json(run_dir / "metrics.json", metrics)
    from ..viz import draw_genotype  # matplotlib only once there is a cell to draw (0.6 s of every start)

    pictures = draw_genotype(genotype, run_dir, prefix="cell")
    if bench.table is not None:
        pictures.append(bench.draw_curve(searcher.history, list(cfg.expert.nb201), run_dir / "benchmark_curve.png"))
    if cfg.evaluate.enabled:
        from .evaluation_run import evaluate_genotype

        ev = evaluate_genotype(genotype, cfg.evaluate, cfg.dataset, run_dir / "eval", runtime=runtime, seed=cfg.seed,
                               resume=cfg.resume, progress=cfg.logger.progress, dataset=dataset, prefix="evaluate")
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
    run_dir = HydraConfig.get().runtime.output_dir
    with discard_if_rejected(run_dir):  # bad input leaves no run directory behind
        metrics = run_guarded("irlas-search", lambda: run_search(cfg, run_dir))
    return float(metrics["val_acc"])


def main() -> None:
    sys.argv += rank_overrides(sys.argv[1:])  # under torchrun only rank 0 writes Hydra's .hydra/ folder
    hydra_entry("irlas-search", _hydra_main)


if __name__ == "__main__":
    main()
