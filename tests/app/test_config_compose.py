"""Every config group option composes, and bad values fail at start with a message naming the field."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from irlas_darts.app.config import ConfigError, conf_dir, register_configs, validate_search_config

CONF = Path(conf_dir())


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_search(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("irlas_search", overrides=list(overrides))


@pytest.mark.parametrize("group", ["space", "dataset", "search", "regularizer", "expert", "logger"])
def test_every_group_option_composes(group):
    opts = options(group)
    assert opts, f"conf/{group} is empty"
    for opt in opts:
        cfg = compose_search(f"{group}={opt}")
        OmegaConf.resolve(cfg)
        assert cfg[group] is not None
        if group in ("space", "dataset", "regularizer", "expert"):
            assert cfg[group].name == opt


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment):
    cfg = compose_search(f"experiment={experiment}")
    validate_search_config(cfg)


def test_defaults_are_the_main_job():
    cfg = compose_search()
    assert (cfg.space.name, cfg.dataset.name, cfg.search.order, cfg.regularizer.name, cfg.expert.name) == (
        "darts", "digits", "first", "irl", "resnext")
    assert cfg.logger.wandb.mode in ("disabled", "offline", "online")
    validate_search_config(cfg)


def test_presets_follow_dataset_and_space():
    small = compose_search("dataset=synthetic", "space=nb201")
    assert small.space.layers == 3 and small.search.epochs == 2
    darts_cifar = compose_search("dataset=cifar10")
    assert (darts_cifar.space.channels, darts_cifar.space.layers, darts_cifar.search.epochs) == (16, 8, 50)
    override = compose_search("dataset=synthetic", "search.epochs=7")
    assert override.search.epochs == 7


def test_second_order_defaults_to_exact_hvp():
    cfg = compose_search("search=second_order")
    assert cfg.search.order == "second" and cfg.search.hvp == "exact"
    # DARTS optimiser defaults
    s = cfg.search
    assert (s.lr, s.lr_min, s.momentum, s.weight_decay, s.grad_clip) == (0.025, 0.001, 0.9, 3e-4, 5.0)
    assert (s.arch_lr, s.arch_beta1, s.arch_beta2, s.arch_weight_decay, s.batch_size) == (3e-4, 0.5, 0.999, 1e-3, 64)


def test_wrong_type_fails_at_composition():
    with pytest.raises(Exception, match="search.epochs"):
        compose_search("search.epochs=many")


@pytest.mark.parametrize(
    "override, field",
    [
        ("search.epochs=-1", "search.epochs"),
        ("search.lr=0", "search.lr"),
        ("search.order=third", "search.order"),
        ("dataset.weight_fraction=1.5", "dataset.weight_fraction"),
        ("regularizer.tau=0", "regularizer.tau"),
        ("regularizer.lambda=-1", "regularizer.lambda"),
        ("regularizer.cells=all", "regularizer.cells"),
        ("+regularizer.lamda=1", "regularizer.lamda"),
        ("space.layers=7", "space.layers"),
        ("device=tpu", "device"),
    ],
)
def test_bad_values_name_the_field(override, field):
    cfg = compose_search("space=nb201" if override.startswith("space.") else "space=darts", override)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as info:
        validate_search_config(cfg)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("launcher, target", [("local", "JoblibLauncher"), ("slurm", "SlurmLauncher")])
def test_launcher_configs_compose(launcher, target):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher" if launcher == "local" else "hydra_plugins.hydra_submitit_launcher")
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("irlas_search", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "local":
        assert cfg.hydra.launcher.n_jobs == 2
    else:
        assert cfg.hydra.launcher.gpus_per_node == 1


@pytest.mark.parametrize("app", ["irlas_search", "irlas_eval"])
def test_help_names_the_app_and_shows_examples(app):
    """``--help`` (Hydra's help template) opens with what the program is and ends with runnable examples."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(app, return_hydra_config=True)
    help_cfg = cfg.hydra.help
    assert help_cfg.header.startswith(f"{app.replace('_', '-')} (irlas_darts):")
    assert "irlas-search space=nb201" in help_cfg.footer and "--hydra-help" in help_cfg.footer
    assert "$APP_CONFIG_GROUPS" in help_cfg.template and "$CONFIG" in help_cfg.template
