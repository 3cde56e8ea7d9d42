"""irlas-eval: genotype sources, build-and-measure without data, a short training, resume."""

import json

import pytest
from hydra import compose, initialize_config_dir

from irlas_darts.app import evaluation_run
from irlas_darts.app.config import conf_dir, register_configs
from irlas_darts.app.eval_app import run_eval
from irlas_darts.spaces import GenotypeError, published_genotype


def compose_eval(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("irlas_eval", overrides=list(overrides))


def test_epochs_zero_builds_and_measures_without_loading_data(tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("eval.epochs=0 must not load data")

    monkeypatch.setattr(evaluation_run, "load_data", no_data)
    cfg = compose_eval("genotype=DARTS_V2", "dataset=cifar10", "dataset.root=/nonexistent", "eval.epochs=0",
                       "eval.darts_layers=8", "eval.darts_channels=16", "eval.latency_batch=2")
    metrics = run_eval(cfg, tmp_path)
    assert metrics["input_shape"] == [3, 32, 32]
    assert metrics["params"] > 0 and metrics["params_aux"] > 0 and metrics["flops"] > 0
    assert set(metrics["latency_ms"]) == {"batch_1", "batch_2"}
    assert "test_acc" not in metrics
    assert json.loads((tmp_path / "metrics.json").read_text())["params"] == metrics["params"]


def test_genotype_sources(tmp_path):
    g = published_genotype("PC_DARTS")
    (tmp_path / "genotype.json").write_text(json.dumps(g.to_json()))
    (tmp_path / "g.txt").write_text(g.to_text())
    assert evaluation_run.resolve_genotype("PC_DARTS") == g
    assert evaluation_run.resolve_genotype(str(tmp_path)) == g
    assert evaluation_run.resolve_genotype(str(tmp_path / "genotype.json")) == g
    assert evaluation_run.resolve_genotype(str(tmp_path / "g.txt")) == g
    with pytest.raises(GenotypeError, match="genotype=nope"):
        evaluation_run.resolve_genotype("nope")


@pytest.mark.slow
def test_short_training_and_exact_resume(tmp_path):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    (tmp_path / "g.txt").write_text(arch)
    common = [f"genotype={tmp_path / 'g.txt'}", "dataset=synthetic", "logger.progress=false", "eval.latency_batch=2"]
    whole = run_eval(compose_eval(*common, "eval.epochs=2"), tmp_path / "whole")
    assert 0.0 <= whole["test_acc"] <= 1.0
    from irlas_darts.evaluation import Trainer

    real = Trainer.train_epoch

    def interrupted(self, progress=None):
        if len(self.history) == 1:
            raise KeyboardInterrupt  # Ctrl-C after the first epoch's checkpoint
        return real(self, progress)

    cut = tmp_path / "cut"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "train_epoch", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_eval(compose_eval(*common, "eval.epochs=2"), cut)
    assert (cut / "checkpoint.pt").is_file() and not (cut / "metrics.json").exists()
    resumed = run_eval(compose_eval(*common, "eval.epochs=2", "resume=true"), cut)
    assert resumed["test_acc"] == whole["test_acc"] and resumed["test_loss"] == whole["test_loss"]
