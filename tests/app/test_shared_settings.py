"""``dataset.*``, ``runtime.*``, ``device`` and ``seed`` act the same in irlas-search and irlas-eval: each key is set in
each app and its effect observed (or its refusal, where an app cannot act on it)."""

from __future__ import annotations

import logging

import pytest
import torch
from hydra import compose, initialize_config_dir

from irlas_darts.app.config import ConfigError, conf_dir, register_configs
from irlas_darts.app.eval_app import run_eval
from irlas_darts.app.search_app import run_search
from irlas_darts.data import DatasetError

BASE = {
    "search": ("irlas_search", ["space=nb201", "dataset=synthetic", "search.epochs=1", "logger.progress=false"]),
    "eval": ("irlas_eval", ["dataset=synthetic", "eval.epochs=1", "eval.latency_batch=2", "logger.progress=false",
                            "genotype=DARTS_V2"]),
}
APPS = ["search", "eval"]


def run(app: str, tmp_path, *overrides: str) -> dict:
    name, base = BASE[app]
    register_configs()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose(name, overrides=[*base, *overrides])
    out = tmp_path / "_".join([app, *overrides]).replace("/", "_")[:120]
    try:
        return (run_search if app == "search" else run_eval)(cfg, out)
    finally:
        torch.set_num_threads(1)  # as conftest.py set it


def n_train(metrics: dict) -> int:
    n = metrics["n_train"]
    return n["weights"] + n["architecture"] if isinstance(n, dict) else n


@pytest.mark.parametrize("app", APPS)
def test_dataset_limit_and_options_set_the_training_images(app, tmp_path):
    assert n_train(run(app, tmp_path)) == 256  # conf/dataset/synthetic.yaml: n_train 256
    assert n_train(run(app, tmp_path, "dataset.limit=96")) == 96
    assert n_train(run(app, tmp_path, "dataset.options.n_train=128")) == 128


@pytest.mark.parametrize("app", APPS)
def test_dataset_name_and_root_choose_the_data(app, tmp_path):
    metrics = run(app, tmp_path, "dataset=digits", "dataset.limit=128")
    assert metrics["dataset"] == "digits"
    with pytest.raises(DatasetError, match="nowhere"):
        run(app, tmp_path, "dataset=cifar10", f"dataset.root={tmp_path}/nowhere")


@pytest.mark.parametrize("app", APPS)
def test_dataset_shape_and_classes_must_match_the_data(app, tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.shape"):
        run(app, tmp_path, "dataset.shape=[3,8,8]")
    with pytest.raises(ConfigError, match=r"dataset\.num_classes"):
        run(app, tmp_path, "dataset.num_classes=7")


def test_dataset_shape_sets_what_eval_builds_without_data(tmp_path):
    metrics = run("eval", tmp_path, "eval.epochs=0", "dataset.shape=[3,16,16]")
    assert metrics["input_shape"] == [3, 16, 16]


def test_weight_fraction_splits_the_search_data_and_is_refused_by_eval(tmp_path):
    split = run("search", tmp_path, "dataset.weight_fraction=0.75")["n_train"]
    assert (split["weights"], split["architecture"]) == (192, 64)
    with pytest.raises(ConfigError, match=r"dataset\.weight_fraction.*irlas-search"):
        run("eval", tmp_path, "dataset.weight_fraction=0.75")


@pytest.mark.parametrize("app", APPS)
def test_runtime_threads_device_and_seed(app, tmp_path):
    torch.set_num_threads(3)  # runtime.threads must bring it down (several jobs on one machine)
    a = run(app, tmp_path, "runtime.threads=1", "device=cpu")
    assert a["environment"]["threads"] == 1 and a["environment"]["device"] == "cpu"
    b = run(app, tmp_path, "seed=1", "runtime.threads=1")
    assert b["seed"] == 1 and a["seed"] == 0
    key = "alphas" if app == "search" else "test_loss"
    assert a[key] != b[key]  # another seed, another run
    with pytest.raises(ConfigError, match="device"):
        run(app, tmp_path, "device=tpu")


@pytest.mark.cuda  # runs everywhere; on a CUDA machine it also checks that the switches act
@pytest.mark.parametrize("app", APPS)
def test_gpu_switches_act_on_cuda_and_are_reported_elsewhere(app, tmp_path, caplog):
    switches = ("bf16", "channels_last", "compile")
    with caplog.at_level(logging.WARNING, logger="irlas_darts"):
        metrics = run(app, tmp_path, *(f"runtime.{s}=true" for s in switches), "device=cpu")
    for switch in switches:
        assert metrics["environment"][switch] is False  # on the CPU the switch does not act ...
        assert f"runtime.{switch}=true is ignored on cpu" in caplog.text  # ... and the log says so
    if torch.cuda.is_available():  # torch.compile's warm-up on CUDA is its own test (below)
        on_gpu = run(app, tmp_path, "runtime.bf16=true", "runtime.channels_last=true", "device=cuda")["environment"]
        assert on_gpu["bf16"] is True and on_gpu["channels_last"] is True and on_gpu["compile"] is False


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("app", APPS)
def test_compile_acts_on_cuda(app, tmp_path):
    assert run(app, tmp_path, "runtime.compile=true", "device=cuda")["environment"]["compile"] is True
