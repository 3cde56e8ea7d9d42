"""What ``irlas-search`` and ``irlas-eval`` share, through one code path: ``device``, ``seed``, ``runtime.*``, ``dataset.*``.

A setting a user gives is applied or refused, never silently dropped: both apps validate these keys here, apply them
here, and record what was applied in ``metrics.json`` (``environment``). The GPU switches (``runtime.bf16``,
``runtime.channels_last``, ``runtime.compile``) only act on CUDA; on another device both apps say so in the log and
record them as off.
"""

from __future__ import annotations

import logging
import platform
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from .. import __version__
from ..data import Dataset, DatasetError, load_dataset
from .config import ConfigError, validate_shared

log = logging.getLogger("irlas_darts")

GPU_SWITCHES = ("bf16", "channels_last", "compile")


@dataclass(frozen=True)
class Runtime:
    """The device and the runtime switches as applied (a GPU switch is True only where it acts)."""

    device: torch.device
    threads: int
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def environment(self) -> dict[str, Any]:
        """What a reader needs to reproduce the run besides the config (which Hydra saves in ``.hydra/``)."""
        return {
            "irlas_darts": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(self.device),
            "threads": self.threads,
            "bf16": self.bf16,
            "channels_last": self.channels_last,
            "compile": self.compile,
        }


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA where there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_runtime(cfg: DictConfig) -> Runtime:
    """Validate and apply ``device``, ``seed`` and ``runtime.*``; the switches that do not act here are logged."""
    validate_shared(cfg)
    if cfg.runtime.threads:
        torch.set_num_threads(int(cfg.runtime.threads))
    device = resolve_device(cfg.device)
    seed_everything(int(cfg.seed))
    cuda = device.type == "cuda"
    for key in GPU_SWITCHES:
        if cfg.runtime[key] and not cuda:
            log.warning("runtime.%s=true is ignored on %s: it only acts on CUDA", key, device.type)
    return Runtime(device, torch.get_num_threads(), *(bool(cfg.runtime[k]) and cuda for k in GPU_SWITCHES))


def load_data(ds: DictConfig, device: torch.device) -> Dataset:
    """Load ``dataset.name`` from ``dataset.root`` with ``dataset.options``, keep ``dataset.limit`` training images,
    and check ``dataset.shape`` / ``dataset.num_classes`` against what was loaded."""
    options = OmegaConf.to_container(ds.options, resolve=True) or {}
    try:
        dataset = load_dataset(ds.name, ds.root, device=device, max_train=ds.limit, **options)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"dataset.options: {err}") from None
    except DatasetError as err:
        if ds.root is None or not Path(str(ds.root)).is_dir():  # the loader names the layout; the fix is the key
            raise DatasetError(f"{err}; point dataset.root=<folder> at the files") from None
        raise
    shape, expected = list(dataset.input_shape), [int(v) for v in ds.shape]
    if shape != expected:
        raise ConfigError(f"dataset.shape={expected} does not match the {ds.name} data's {shape}; "
                          f"set dataset.shape={shape} (it says what eval.epochs=0 builds for; with "
                          "dataset.options.size it must follow the new size)")
    if dataset.num_classes != int(ds.num_classes):
        raise ConfigError(f"dataset.num_classes={ds.num_classes} does not match the {ds.name} data's "
                          f"{dataset.num_classes} classes; drop the override")
    return dataset


def check_batch(batch_size: int, available: int, key: str, part: str) -> None:
    """A batch larger than its data split would train on nothing (batches drop the remainder): refuse it."""
    if batch_size > available:
        raise ConfigError(f"{key}={batch_size} is larger than the {part} ({available} images); lower {key} "
                          "or give more data (dataset.limit, dataset.options)")
