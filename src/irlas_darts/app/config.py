"""Structured configs of the applications, registered in Hydra's ConfigStore.

Typed nodes make a wrong type fail at composition; ``validate_*`` catch wrong values (negative epochs, unknown
choices) with one line that names the field. The ``regularizer`` node stays a plain mapping because its key
``lambda`` (SPEC §4.5) cannot be a dataclass field; ``regularizer_options`` checks it by hand.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """An invalid value in the composed config; the message names the field and what it accepts."""


def conf_dir() -> str:
    """Absolute path of the package's ``conf/`` folder.

    In a checkout ``src/irlas_darts/conf`` is a symlink to the top-level ``conf/`` (the one place configs are
    edited); a built wheel holds a copy, so an installed package needs no checkout.
    """
    path = Path(__file__).resolve().parents[1] / "conf"
    if not (path / "irlas_search.yaml").is_file():
        raise FileNotFoundError(f"irlas_darts configs not found in {path}; reinstall the package")
    return str(path)


@dataclass
class SpaceConfig:
    name: str = MISSING  # darts | nb201
    channels: int = 16
    layers: int = 8  # DARTS: cells; NB201: total cells = 3 * N


@dataclass
class DatasetConfig:
    name: str = MISSING
    root: Optional[str] = None
    weight_fraction: float = 0.5  # share of the training split used for the weights; the rest trains the alphas
    limit: Optional[int] = None  # keep only the first N training images (quick trials)
    shape: list[int] = field(default_factory=lambda: [3, 32, 32])  # (C, H, W): what eval.epochs=0 builds for
    num_classes: int = 10
    options: dict[str, Any] = field(default_factory=dict)  # loader-specific (e.g. synthetic sizes)


@dataclass
class SearchConfig:
    order: str = "first"  # first | second
    hvp: str = "exact"  # exact | exact_recompute | double_backward | jvp | finite_difference (second order only)
    epochs: int = 50
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the global batch (exact, slower)
    lean: bool = True  # memory-lean autograd nodes; false: the plain modules, faster on small supernets, more memory
    eval_bn: str = "batch"  # supernet val_acc with BatchNorm's batch statistics | running (as the original DARTS code)


@dataclass
class AlgorithmConfig:
    """``darts``, and the keys every algorithm has: beta-DARTS' beta-decay (0 = off)."""

    name: str = "darts"
    beta_decay: float = 0.0  # lambda of beta-decay (beta-DARTS), usable with every algorithm
    beta_decay_schedule: str = "linear"  # linear: 0 at the first epoch -> lambda at the last | constant


@dataclass
class PCDartsConfig(AlgorithmConfig):
    name: str = "pc_darts"
    k: int = 4  # 1/k of the channels pass through the ops (the paper: 4)
    edge_normalization: bool = True  # edge weights beta, softmax over each node's incoming edges


@dataclass
class GDASConfig(AlgorithmConfig):
    name: str = "gdas"
    tau_max: float = 10.0  # Gumbel-softmax temperature at the first epoch ...
    tau_min: float = 0.1  # ... falling linearly to this at the last (the paper: 10 -> 0.1)
    single_op: bool = True  # run only the sampled op of each edge (GDAS' forward; false: the full mixed op)


@dataclass
class DrNASConfig(AlgorithmConfig):
    name: str = "drnas"
    kl_scale: float = 1e-3  # weight of KL(Dir(ELU(alpha)+1) || Dir(anchor))
    anchor: float = 1.0  # concentration of the anchor Dirichlet


ALGORITHM_SCHEMAS: dict[str, type[AlgorithmConfig]] = {
    "darts": AlgorithmConfig, "pc_darts": PCDartsConfig, "gdas": GDASConfig, "drnas": DrNASConfig,
}


@dataclass
class ExpertConfig:
    name: str = MISSING
    darts: list[str] = field(default_factory=list)
    nb201: list[str] = field(default_factory=list)


@dataclass
class WandbConfig:
    mode: str = "disabled"  # disabled | offline | online
    project: str = "irlas_darts"
    entity: Optional[str] = None
    group: Optional[str] = None


@dataclass
class LoggerConfig:
    wandb: WandbConfig = field(default_factory=WandbConfig)
    progress: bool = True  # tqdm bar over each epoch's steps


@dataclass
class RuntimeConfig:
    channels_last: bool = False  # CUDA only
    bf16: bool = False  # bf16 autocast, CUDA only (several times slower on CPU)
    compile: bool = False  # torch.compile the supernet (CUDA; ~30 s warm-up)
    threads: Optional[int] = None  # torch CPU threads; None leaves torch's default


@dataclass
class BenchmarkConfig:
    # NAS-Bench-201 table: packaged (the shipped CIFAR-10 validation table, nb201 runs only), a path (CSV; a pandas
    # pickle only with allow_pickle) or null (no lookups)
    table: Optional[str] = "packaged"
    arch_column: Optional[str] = None  # default: the first of arch_str / cellstr / arch present
    accuracy_columns: list[str] = field(default_factory=list)  # default: every column with 'acc' in its name
    allow_pickle: bool = False  # a pickled table can run code when loaded: read one only when set
    nats: Optional[str] = None  # NATS-Bench topology file / fast-mode folder (pickles: needs allow_pickle, nats_bench)


@dataclass
class EvalConfig:
    """Training from scratch (DARTS recipe) and measurement of a genotype's evaluation network."""

    enabled: bool = True  # only read by irlas-search (train the found cell after the search)
    epochs: int = 600  # 0: build and measure only, no data is loaded
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2
    cutout: Optional[int] = None  # px; None = half the image side (16 on CIFAR), 0 = off
    imagenet: bool = False  # DARTS ImageNet network (mobile setting) for 224 px inputs
    darts_channels: int = 36
    darts_layers: int = 20  # cells
    nb201_channels: int = 16
    nb201_cells: int = 5  # N cells per stage
    latency_batch: int = 64  # latency is measured at batch 1 and at this batch


@dataclass
class EvalAppConfig:
    dataset: DatasetConfig = MISSING
    eval: EvalConfig = MISSING
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    genotype: str = "DARTS_V2"  # a published name, a genotype.json / genotype.txt, or a search run directory
    seed: int = 0
    device: str = "auto"
    resume: bool = False


@dataclass
class SearchAppConfig:
    space: SpaceConfig = MISSING
    dataset: DatasetConfig = MISSING
    search: SearchConfig = MISSING
    regularizer: Any = MISSING
    expert: ExpertConfig = MISSING
    algorithm: Any = field(default_factory=AlgorithmConfig)  # typed per choice by its schema (ALGORITHM_SCHEMAS)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    resume: bool = False
    evaluate: EvalConfig = MISSING  # training from scratch after the search when evaluate.enabled


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="search_schema", node=SearchAppConfig)
    # Group schemas live in their own group so that they are not listed as options of the groups they type.
    cs.store(group="schema", name="space", node=SpaceConfig)
    cs.store(group="schema", name="dataset", node=DatasetConfig)
    cs.store(group="schema", name="search", node=SearchConfig)
    cs.store(group="schema", name="expert", node=ExpertConfig)
    for name, schema in ALGORITHM_SCHEMAS.items():
        cs.store(group="schema", name=f"algorithm_{name}", node=schema)
    cs.store(name="eval_schema", node=EvalAppConfig)
    cs.store(group="schema", name="eval", node=EvalConfig)


# --- value checks --------------------------------------------------------------------------------------------------
def _choice(value: str, options: tuple[str, ...], key: str) -> None:
    if value not in options:
        raise ConfigError(f"{key}={value!r} is not valid; choose one of {', '.join(options)}")


def _at_least(value: float, low: float, key: str, strict: bool = False) -> None:
    if value < low or (strict and value == low):
        raise ConfigError(f"{key}={value} is not valid; it must be {'>' if strict else '>='} {low}")


DEVICES = ("auto", "cpu", "cuda")


def _int_at_least(value: Any, low: int, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{key}={value!r} is not valid; it must be an integer >= {low}")


def validate_shared(cfg: DictConfig) -> None:
    """Check ``device``, ``seed``, ``runtime.*`` and ``dataset.*`` (shared by both apps) before anything is built."""
    from ..data import available_datasets

    if cfg.device not in DEVICES:
        raise ConfigError(f"device={cfg.device!r} is not valid; choose one of {', '.join(DEVICES)}")
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device=cuda but no CUDA device is available here; use device=auto or device=cpu")
    _int_at_least(cfg.seed, 0, "seed")
    if cfg.runtime.threads is not None:
        _int_at_least(cfg.runtime.threads, 1, "runtime.threads")
    ds = cfg.dataset
    if ds.name not in available_datasets():
        raise ConfigError(f"dataset.name={ds.name!r} is not valid; choose one of {', '.join(available_datasets())}")
    if ds.limit is not None:
        _int_at_least(ds.limit, 1, "dataset.limit")
    if not 0.0 < ds.weight_fraction < 1.0:
        raise ConfigError(f"dataset.weight_fraction={ds.weight_fraction} is not valid; use a value in (0, 1)")
    shape = list(ds.shape)
    if len(shape) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape):
        raise ConfigError(f"dataset.shape={shape} is not valid; give [channels, height, width], each >= 1")
    _int_at_least(ds.num_classes, 2, "dataset.num_classes")


def check_known_keys(cfg: DictConfig, schema: type, prefix: str = "") -> None:
    """Refuse keys that no schema field holds (``+search.foo=1``): nothing would read them, so they would be lost."""
    hints = typing.get_type_hints(schema)
    fields = [f.name for f in dataclasses.fields(schema)]
    for key in cfg.keys():
        if key not in hints:
            where = f" of {prefix[:-1]}" if prefix else ""
            raise ConfigError(f"{prefix}{key} is not a known key{where}; known keys: {', '.join(fields)}")
        node = cfg._get_node(key)
        if dataclasses.is_dataclass(hints[key]) and isinstance(node, DictConfig):
            check_known_keys(node, hints[key], f"{prefix}{key}.")


def validate_search_config(cfg: DictConfig) -> None:
    from ..spaces import available_spaces

    check_known_keys(cfg, SearchAppConfig)
    validate_shared(cfg)
    _choice(cfg.space.name, tuple(available_spaces()), "space.name")
    _choice(cfg.search.order, ("first", "second"), "search.order")
    _choice(cfg.search.hvp, ("exact", "exact_recompute", "double_backward", "jvp", "finite_difference"), "search.hvp")
    _choice(cfg.search.eval_bn, ("batch", "running"), "search.eval_bn")
    _at_least(cfg.search.epochs, 1, "search.epochs")
    _at_least(cfg.search.batch_size, 1, "search.batch_size")
    for key in ("lr", "arch_lr"):
        _at_least(cfg.search[key], 0.0, f"search.{key}", strict=True)
    for key in ("lr_min", "weight_decay", "arch_weight_decay", "momentum", "grad_clip"):
        _at_least(cfg.search[key], 0.0, f"search.{key}")
    _at_least(cfg.space.channels, 1, "space.channels")
    _at_least(cfg.space.layers, 3, "space.layers")
    if cfg.space.name == "nb201" and cfg.space.layers % 3:
        raise ConfigError(f"space.layers={cfg.space.layers} is not valid for nb201; use a multiple of 3 (3 stages of N cells)")
    regularizer_options(cfg)
    algorithm_options(cfg)
    check_expert(cfg)
    if cfg.benchmark.table not in (None, "", "packaged") and cfg.space.name != "nb201":
        raise ConfigError(f"benchmark.table={cfg.benchmark.table} is a NAS-Bench-201 table and applies to space=nb201 "
                          f"only; this search has space={cfg.space.name}: drop benchmark.table or use space=nb201")
    if cfg.benchmark.nats and cfg.space.name != "nb201":
        raise ConfigError(f"benchmark.nats={cfg.benchmark.nats} is NATS-Bench's topology space (NAS-Bench-201) and "
                          f"applies to space=nb201 only; this search has space={cfg.space.name}: drop benchmark.nats")
    if cfg.evaluate.enabled:
        validate_eval_config(cfg.evaluate, "evaluate")


def check_expert(cfg: DictConfig) -> None:
    """The expert's cells for the searched space parse as cells of that space (custom ``expert.<space>=[...]``)."""
    from ..spaces import create_space
    from ..topology import expert_cells, expert_texts

    space = create_space(cfg.space.name)
    try:
        expert_cells(space, expert_texts(cfg.expert, space))
    except ValueError as err:
        raise ConfigError(f"{err}; fix expert.{space.name} or pick a shipped expert (expert=resnext or resnet)") from None


def validate_eval_app_config(cfg: DictConfig) -> None:
    """``irlas-eval``: the shared keys, the recipe, and the shared keys it cannot act on."""
    check_known_keys(cfg, EvalAppConfig)
    validate_shared(cfg)
    validate_eval_config(cfg.eval)
    default = DatasetConfig.weight_fraction
    if cfg.dataset.weight_fraction != default:
        raise ConfigError(f"dataset.weight_fraction={cfg.dataset.weight_fraction} only applies to irlas-search (the "
                          "weight/architecture split); irlas-eval trains on the whole training split: drop it")


def validate_eval_config(ev: DictConfig, prefix: str = "eval") -> None:
    _at_least(ev.epochs, 0, f"{prefix}.epochs")
    for key in ("batch_size", "darts_channels", "darts_layers", "nb201_channels", "nb201_cells", "latency_batch"):
        _at_least(ev[key], 1, f"{prefix}.{key}")
    _at_least(ev.lr, 0.0, f"{prefix}.lr", strict=True)
    if not 0.0 <= ev.drop_path_prob < 1.0:
        raise ConfigError(f"{prefix}.drop_path_prob={ev.drop_path_prob} is not valid; use a value in [0, 1)")
    if ev.cutout is not None:
        _at_least(ev.cutout, 0, f"{prefix}.cutout")


REGULARIZER_KEYS = {"name", "lambda", "tau", "gamma", "every", "start_epoch", "epsilon", "cells", "samples", "clip", "seed",
                    "reward", "policy", "guard", "guard_total", "positions"}


def regularizer_options(cfg: DictConfig) -> tuple[str, dict[str, Any]]:
    """The regularizer's name and its constructor options, checked field by field."""
    from ..regularizers import available_regularizers
    from ..topology import POSITIONS

    reg = OmegaConf.to_container(cfg.regularizer, resolve=True)
    if not isinstance(reg, dict) or "name" not in reg:
        raise ConfigError("regularizer must be a mapping with a 'name'; pick one with regularizer=none|imitation|irl")
    unknown = set(reg) - REGULARIZER_KEYS
    if unknown:
        raise ConfigError(f"regularizer.{sorted(unknown)[0]} is not a known key; known: {', '.join(sorted(REGULARIZER_KEYS))}")
    _choice(reg["name"], tuple(available_regularizers()), "regularizer.name")
    numbers = {"lambda": float, "tau": float, "gamma": float, "epsilon": float, "every": int, "start_epoch": int,
               "samples": int, "seed": int}
    for key, kind in numbers.items():
        if key in reg:
            value = reg[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
                raise ConfigError(f"regularizer.{key}={value!r} is not valid; it must be a{'n integer' if kind is int else ' number'}")
    _at_least(reg.get("lambda", 0.0), 0.0, "regularizer.lambda")
    _at_least(reg.get("tau", 1.0), 0.0, "regularizer.tau", strict=True)
    _at_least(reg.get("every", 1), 1, "regularizer.every")
    _at_least(reg.get("start_epoch", 0), 0, "regularizer.start_epoch")
    _at_least(reg.get("samples", 0), 0, "regularizer.samples")
    if not 0.0 < reg.get("gamma", 0.9) <= 1.0:
        raise ConfigError(f"regularizer.gamma={reg['gamma']} is not valid; use a value in (0, 1]")
    _choice(reg.get("cells", "normal"), ("normal", "both"), "regularizer.cells")
    _choice(reg.get("reward", "mirror"), ("mirror", "linear"), "regularizer.reward")
    _choice(reg.get("policy", "soft"), ("soft", "derived"), "regularizer.policy")
    _choice(reg.get("positions", "sources"), POSITIONS, "regularizer.positions")
    for key in ("clip", "guard"):
        if not isinstance(reg.get(key, True), bool):
            raise ConfigError(f"regularizer.{key}={reg[key]!r} is not valid; use true or false")
    if not (isinstance(reg.get("guard_total", False), bool) or reg["guard_total"] == "derived"):
        raise ConfigError(f"regularizer.guard_total={reg['guard_total']!r} is not valid; use false, true or derived")
    name = reg.pop("name")
    if "lambda" in reg:
        reg["lam"] = reg.pop("lambda")
    return name, reg


def algorithm_options(cfg: DictConfig) -> tuple[str, dict[str, Any]]:
    """The search algorithm's name and constructor options, checked key by key (types: the group's schema)."""
    from ..search.algorithms import available_algorithms, create_algorithm
    from ..spaces import create_space

    alg = OmegaConf.to_container(cfg.algorithm, resolve=True)
    if not isinstance(alg, dict) or "name" not in alg:
        raise ConfigError("algorithm must be a mapping with a 'name'; pick one with "
                          f"algorithm={'|'.join(available_algorithms())}")
    _choice(alg["name"], tuple(available_algorithms()), "algorithm.name")
    schema = ALGORITHM_SCHEMAS.get(alg["name"])
    if schema is not None:
        known = [f.name for f in dataclasses.fields(schema)]
        unknown = sorted(set(alg) - set(known))
        if unknown:
            raise ConfigError(f"algorithm.{unknown[0]} is not a key of algorithm {alg['name']}; known: {', '.join(known)}")
    name = alg.pop("name")
    try:
        create_algorithm(name, create_space(cfg.space.name), **alg)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    k = alg.get("k")
    if name == "pc_darts" and cfg.space.channels % k:
        raise ConfigError(f"algorithm.k={k} does not divide space.channels={cfg.space.channels}; every edge passes "
                          "1/k of its channels through the ops: choose a k that divides it")
    return name, alg
