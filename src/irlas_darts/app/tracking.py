"""Optional Weights & Biases logging. ``logger.wandb.mode=disabled`` (the default) never imports wandb; a failure to
start it is a warning, never the end of a run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("irlas_darts.tracking")


class Tracker:
    def __init__(self, cfg: DictConfig, run_dir: Path, enabled: bool = True) -> None:
        """``enabled=False`` (ranks other than 0 of a distributed search) never starts wandb."""
        self.run = None
        wcfg = cfg.logger.wandb
        if wcfg.mode == "disabled" or not enabled:
            return
        try:
            import wandb

            self.wandb = wandb
            self.run = wandb.init(
                mode=wcfg.mode, project=wcfg.project, entity=wcfg.entity, group=wcfg.group, dir=str(run_dir),
                config=OmegaConf.to_container(cfg, resolve=True), reinit=True,
                name=f"{cfg.space.name}-{cfg.regularizer.name}-seed{cfg.seed}",
            )
        except Exception as err:  # noqa: BLE001 - any wandb failure must not stop the search
            log.warning("wandb could not start (%s); continuing without it", str(err).splitlines()[0] if str(err) else err)
            self.run = None

    def log_epoch(self, row: dict[str, Any]) -> None:
        if self.run is None:
            return
        numbers = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        try:
            self.run.log(numbers, step=int(row["epoch"]))
        except Exception as err:  # noqa: BLE001
            log.warning("wandb log failed: %s", err)

    def finish(self, metrics: dict[str, Any], genotype_file: Path, pictures: list[Path]) -> None:
        if self.run is None:
            return
        try:
            self.run.summary.update({k: v for k, v in metrics.items() if isinstance(v, (int, float, str))})
            artifact = self.wandb.Artifact(f"genotype-{self.run.id}", type="genotype")
            artifact.add_file(str(genotype_file))
            self.run.log_artifact(artifact)
            self.run.log({p.stem: self.wandb.Image(str(p)) for p in pictures})
            self.run.finish()
        except Exception as err:  # noqa: BLE001
            log.warning("wandb finish failed: %s", err)
