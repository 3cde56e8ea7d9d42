"""``irlas-eval``: train a genotype from scratch and measure it (SPEC §5).

``genotype=`` takes a published name, a genotype file or a search run directory; ``eval.epochs=0`` only builds and
measures the network, loading no data. ``device``, ``seed``, ``runtime.*`` and ``dataset.*`` go through the same code
as in ``irlas-search`` (``app/runtime.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ..spaces import NB201Genotype
from .benchmarks import Benchmarks, explicit_table
from .cli import hydra_entry
from .config import ConfigError, conf_dir, validate_eval_app_config
from .errors import run_guarded
from .evaluation_run import evaluate_genotype, resolve_genotype
from .io import write_json
from .rundir import discard_if_rejected
from .runtime import setup_runtime

log = logging.getLogger("irlas_darts.eval")


def run_eval(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Check everything (config, genotype, benchmark table) before training, then train and measure."""
    validate_eval_app_config(cfg)
    genotype = resolve_genotype(cfg.genotype)
    if not isinstance(genotype, NB201Genotype):
        for key, given in (("table", explicit_table(cfg.benchmark)), ("nats", bool(cfg.benchmark.nats))):
            if given:
                raise ConfigError(f"benchmark.{key}={cfg.benchmark[key]} is a NAS-Bench-201 benchmark; genotype="
                                  f"{cfg.genotype} is a DARTS-space genotype: drop benchmark.{key}")
    bench = Benchmarks.open(cfg.benchmark, "nb201" if isinstance(genotype, NB201Genotype) else "darts")
    runtime = setup_runtime(cfg)
    metrics = evaluate_genotype(genotype, cfg.eval, cfg.dataset, run_dir, runtime=runtime, seed=cfg.seed,
                                resume=cfg.resume, progress=cfg.logger.progress)
    if bench.active:
        metrics.update(bench.final(genotype))
        write_json(Path(run_dir) / "metrics.json", metrics)
    lat = metrics["latency_ms"]
    aux = f" (+{metrics['params_aux'] / 1e6:.3f}M aux)" if metrics["params_aux"] else ""  # NB201 nets have none
    log.info("%s | params %.3fM%s | %.1fM multiply-adds | latency %s | test_acc %s",
             genotype.to_text(), metrics["params"] / 1e6, aux, metrics["flops"] / 1e6,
             ", ".join(f"{k} {v:.2f} ms" for k, v in lat.items()),
             f"{metrics['test_acc']:.4f}" if "test_acc" in metrics else "-")
    return metrics


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="irlas_eval")
def _hydra_main(cfg: DictConfig) -> float:
    run_dir = HydraConfig.get().runtime.output_dir
    with discard_if_rejected(run_dir):  # bad input leaves no run directory behind
        metrics = run_guarded("irlas-eval", lambda: run_eval(cfg, run_dir))
    return float(metrics.get("test_acc", 0.0))


def main() -> None:
    hydra_entry("irlas-eval", _hydra_main)


if __name__ == "__main__":
    main()
