"""``irlas-eval``: train a genotype from scratch and measure it (SPEC §5).

``genotype=`` takes a published name, a genotype file or a search run directory; ``eval.epochs=0`` only builds and
measures the network, loading no data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ..spaces import NB201Genotype
from .config import conf_dir, register_configs, validate_eval_config
from .errors import run_guarded
from .evaluation_run import evaluate_genotype, resolve_genotype
from .io import write_json
from .search_app import resolve_device, seed_everything

log = logging.getLogger("irlas_darts.eval")


def run_eval(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    validate_eval_config(cfg.eval)
    genotype = resolve_genotype(cfg.genotype)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    cuda = device.type == "cuda"
    metrics = evaluate_genotype(genotype, cfg.eval, cfg.dataset, run_dir, device=device, seed=cfg.seed,
                                resume=cfg.resume, progress=cfg.logger.progress, bf16=cfg.runtime.bf16 and cuda,
                                channels_last=cfg.runtime.channels_last and cuda)
    if cfg.benchmark.table and isinstance(genotype, NB201Genotype):
        from ..evaluation import lookup_arch

        metrics["benchmark"] = lookup_arch(cfg.benchmark.table, genotype.to_text(), arch_column=cfg.benchmark.arch_column,
                                           accuracy_columns=list(cfg.benchmark.accuracy_columns) or None)
        write_json(Path(run_dir) / "metrics.json", metrics)
    lat = metrics["latency_ms"]
    log.info("%s | params %.3fM (+%.3fM aux) | %.1fM multiply-adds | latency %s | test_acc %s",
             genotype.to_text(), metrics["params"] / 1e6, metrics["params_aux"] / 1e6, metrics["flops"] / 1e6,
             ", ".join(f"{k} {v:.2f} ms" for k, v in lat.items()),
             f"{metrics['test_acc']:.4f}" if "test_acc" in metrics else "-")
    return metrics


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="irlas_eval")
def _hydra_main(cfg: DictConfig) -> float:
    metrics = run_guarded("irlas-eval", lambda: run_eval(cfg, HydraConfig.get().runtime.output_dir))
    return float(metrics.get("test_acc", 0.0))


def main() -> None:
    register_configs()
    _hydra_main()


if __name__ == "__main__":
    main()
