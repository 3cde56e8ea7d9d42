"""The `algorithm` config group: every option composes and validates, bad values name the field, the run signature
refuses a resume across algorithms, and an interrupted search of each algorithm resumes to the uninterrupted result."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from irlas_darts.app.config import ConfigError, algorithm_options, conf_dir, register_configs, validate_search_config
from irlas_darts.app.search_app import run_search, run_signature
from irlas_darts.search.algorithms import available_algorithms
from irlas_darts.search.loop import Searcher

CONF = Path(conf_dir())
FAST = ["dataset=synthetic", "space=nb201", "logger.progress=false", "runtime.threads=1"]


def compose_search(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("irlas_search", overrides=list(overrides))


def test_every_registered_algorithm_has_a_config_and_the_default_is_darts():
    assert sorted(p.stem for p in (CONF / "algorithm").glob("*.yaml")) == available_algorithms()
    assert compose_search().algorithm.name == "darts"


@pytest.mark.parametrize("name", available_algorithms())
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_every_algorithm_composes_and_validates_in_both_spaces(name, space):
    cfg = compose_search(f"algorithm={name}", f"space={space}", "algorithm.beta_decay=0.5")
    validate_search_config(cfg)
    got, options = algorithm_options(cfg)
    assert got == name and options["beta_decay"] == 0.5


@pytest.mark.parametrize("overrides, field", [
    (["algorithm=pc_darts", "algorithm.k=0"], "algorithm.k"),
    (["algorithm=pc_darts", "algorithm.k=3", "space.channels=16"], "algorithm.k"),
    (["algorithm=gdas", "algorithm.tau_min=0"], "algorithm.tau_min"),
    (["algorithm=gdas", "algorithm.tau_max=0.01"], "algorithm.tau_max"),
    (["algorithm=drnas", "algorithm.anchor=0"], "algorithm.anchor"),
    (["algorithm=drnas", "algorithm.kl_scale=-1"], "algorithm.kl_scale"),
    (["algorithm.beta_decay=-1"], "algorithm.beta_decay"),
    (["algorithm.beta_decay_schedule=cosine"], "algorithm.beta_decay_schedule"),
])
def test_bad_algorithm_values_name_the_field(overrides, field):
    cfg = compose_search(*overrides)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        validate_search_config(cfg)


def test_run_signature_keeps_old_darts_checkpoints_and_tells_algorithms_apart():
    plain = run_signature(compose_search(*FAST))
    assert plain["algorithm"] is None  # checkpoints of plain DARTS runs made before the group existed still resume
    gdas = run_signature(compose_search(*FAST, "algorithm=gdas"))
    decay = run_signature(compose_search(*FAST, "algorithm.beta_decay=1"))
    assert gdas["algorithm"]["name"] == "gdas" and decay["algorithm"]["beta_decay"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in available_algorithms() if n != "darts"])
def test_an_interrupted_search_of_every_algorithm_resumes_exactly(tmp_path, monkeypatch, name):
    cfg = compose_search(*FAST, "search.epochs=2", f"algorithm={name}", "algorithm.beta_decay=0.3")
    whole = run_search(cfg, tmp_path / "whole")
    assert whole["algorithm"]["name"] == name

    real = Searcher.train_epoch

    def stop_in_the_second_epoch(self, *args, **kwargs):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Searcher, "train_epoch", stop_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, tmp_path / "cut")
    monkeypatch.setattr(Searcher, "train_epoch", real)
    cfg_resume = compose_search(*FAST, "search.epochs=2", f"algorithm={name}", "algorithm.beta_decay=0.3", "resume=true")
    resumed = run_search(cfg_resume, tmp_path / "cut")
    for key in ("genotype", "val_acc", "val_loss", "alphas", "topology"):
        assert resumed[key] == whole[key], key
    other = compose_search(*FAST, "search.epochs=2", "algorithm=darts", "resume=true")
    with pytest.raises(Exception, match="algorithm"):
        run_search(other, tmp_path / "cut")
