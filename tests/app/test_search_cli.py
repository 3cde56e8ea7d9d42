"""irlas-search end to end: outputs, determinism, resume after SIGKILL, and one-line errors for bad input."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from irlas_darts.app.config import conf_dir, register_configs
from irlas_darts.app.search_app import run_search
from irlas_darts.search.loop import NonFiniteError, Searcher
from irlas_darts.spaces import genotype_from_json

ROOT = Path(__file__).resolve().parents[2]
FAST = ["dataset=synthetic", "space=nb201", "logger.progress=false", "runtime.threads=1"]


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WANDB_MODE="disabled")
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "irlas_darts", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def compose_search(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("irlas_search", overrides=list(overrides))


def history_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


EPOCHS = 3  # the SIGKILL test cuts a run after its first epoch, with two epochs left to kill it in


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict[str, Path]:
    """One uninterrupted CLI search per space, both from one process (a Hydra sweep): the outputs test reads both,
    the SIGKILL test compares its resumed nb201 run with job 0 (the first job, run in a fresh process like a single
    run). Each CLI process pays seconds of imports; the jobs are what the tests look at."""
    sweep = tmp_path_factory.mktemp("cli") / "sweep"
    res = cli("-m", *FAST[:1], "space=nb201,darts", *FAST[2:], f"search.epochs={EPOCHS}", f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr
    return {"nb201": sweep / "0", "darts": sweep / "1"}


@pytest.mark.slow
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_search_through_the_cli_writes_every_output(finished, space):
    run = finished[space]
    assert OmegaConf.load(run / ".hydra" / "overrides.yaml").count(f"space={space}") == 1
    for name in ("genotype.json", "genotype.txt", "metrics.json", "history.csv", "checkpoint.pt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["val_acc"] <= 1.0
    assert metrics["seed"] == 0 and metrics["epochs"] == EPOCHS and metrics["search_seconds"] > 0
    assert metrics["space"] == space
    genotype = genotype_from_json(json.loads((run / "genotype.json").read_text()))
    assert genotype_from_json(metrics["genotype"]) == genotype
    assert (run / "genotype.txt").read_text().strip() == genotype.to_text()
    assert {"mu", "mu_expert", "distance_to_expert", "F", "margin", "w"} <= set(metrics["topology"])
    if space == "nb201":
        assert metrics["arch_str"] == genotype.to_text()
    rows = history_rows(run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    assert {"train_loss", "val_acc", "lr", "genotype", "seconds", "F", "margin", "distance_to_expert"} <= set(rows[0])
    # the collapse measure, per epoch and at the end (README, "The prior")
    stats = metrics["cell_stats"]
    assert {f"param_free_{c}" for c in genotype.cell_types} <= set(rows[0])
    assert all(int(rows[-1][f"param_free_{c}"]) == stats[c]["param_free"] for c in genotype.cell_types)
    assert metrics["collapsed"] == sorted(c for c in genotype.cell_types if stats[c]["collapsed"])
    for cell in genotype.cell_types:
        assert (run / f"cell_{cell}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / ".hydra" / "config.yaml").is_file()  # what is needed to reproduce the run
    assert not list(run.glob(".*.tmp"))


@pytest.mark.slow
def test_same_seed_same_genotype_and_metrics(tmp_path, caplog):
    """Two runs of one config agree; the second, into the first's folder without resume=true, says that it starts
    that search over."""
    cfg = compose_search(*FAST, "search.epochs=2")
    a = run_search(cfg, tmp_path / "a")
    assert "already holds a search" not in caplog.text
    b = run_search(cfg, tmp_path / "a")
    assert a["genotype"] == b["genotype"] and a["val_acc"] == b["val_acc"] and a["alphas"] == b["alphas"]
    warned = [r for r in caplog.records if "already holds a search" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING" and "resume=true" in warned[0].getMessage()


@pytest.mark.slow
def test_resume_after_sigkill_equals_an_uninterrupted_run(finished, tmp_path):
    epochs = [f"search.epochs={EPOCHS}"]
    whole = finished["nb201"]
    cut = tmp_path / "cut"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WANDB_MODE="disabled")
    proc = subprocess.Popen([sys.executable, "-m", "irlas_darts", *FAST, *epochs, f"hydra.run.dir={cut}"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (cut / "history.csv").is_file() and len(history_rows(cut)) >= 1:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / "metrics.json").exists()
    assert 1 <= len(history_rows(cut)) < EPOCHS
    res = cli(*FAST, *epochs, f"hydra.run.dir={cut}", "resume=true")
    assert res.returncode == 0, res.stderr
    m_whole = json.loads((whole / "metrics.json").read_text())
    m_cut = json.loads((cut / "metrics.json").read_text())
    for key in ("genotype", "val_acc", "val_loss", "alphas", "topology"):
        assert m_cut[key] == m_whole[key], key
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(history_rows(cut)) == strip(history_rows(whole))


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("irlas-search: error: "), res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


@pytest.mark.slow
def test_missing_dataset_names_the_path_and_layout(tmp_path):
    """A real process for an error our code raises mid-run (after Hydra set up the job). The other bad inputs
    (corrupt files, bad values, unknown groups, wrong types) are rows of tests/app/test_bad_input.py's table, which
    runs the same entry point in-process; its real-process test covers a Hydra error and one of irlas-eval's."""
    run = tmp_path / "run"
    res = cli("dataset=cifar10", f"dataset.root={tmp_path}/nowhere", f"hydra.run.dir={run}")
    assert_one_line_error(res, f"{tmp_path}/nowhere", "data_batch_1")
    assert res.returncode == 2
    assert not (run / "metrics.json").exists() and not (run / "checkpoint.pt").exists()


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = Searcher.evaluate

    def poisoned(self, x, y, batch_size=512):
        loss, acc = real(self, x, y, batch_size)
        return (float("nan"), acc) if self.epoch == 1 else (loss, acc)

    monkeypatch.setattr(Searcher, "evaluate", poisoned)
    cfg = compose_search(*FAST, "search.epochs=3")
    with pytest.raises(NonFiniteError, match="non-finite val_loss in epoch 2"):
        run_search(cfg, tmp_path)
    import torch

    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1
    assert not (tmp_path / "metrics.json").exists()


def test_collapse_warning_is_one_line_naming_the_cell():
    from irlas_darts.app.search_app import collapse_warning, collapsed_cells
    from irlas_darts.spaces import create_space

    space = create_space("nb201")
    all_skip = space.genotype_from_text(
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    found = collapsed_cells(space, all_skip)
    assert list(found) == ["cell"]
    line = collapse_warning(space, "cell", found["cell"], "epoch 3")
    assert "\n" not in line and line.startswith("collapse: epoch 3, the cell has 6 parameter-free edges of 6 ")
    darts = create_space("darts")
    normal = collapse_warning(darts, "normal", {"param_free": 5, "edges": 8, "conv_depth": 1}, "the final genotype")
    assert normal.startswith("collapse: the final genotype, the normal cell has 5 parameter-free edges of 8 ")
    expert = space.genotype_from_text(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert collapsed_cells(space, expert) == {}


PARAM_FREE_EXPERT = (  # a parameter-free "expert": every normal edge a skip, every reduction edge a pool
    "Genotype(normal=[" + ", ".join(f"('skip_connect', {i % 2})" for i in range(8)) + "], normal_concat=[2, 3, 4, 5], "
    "reduce=[" + ", ".join(f"('max_pool_3x3', {i % 2})" for i in range(8)) + "], reduce_concat=[2, 3, 4, 5])")


@pytest.mark.slow
def test_a_strong_prior_does_not_collapse_a_darts_cell(tmp_path):
    """DARTS space, digits (`make search`'s supernet), lambda 1.0 (about 30x the default): the shipped prior with the
    shipped expert keeps every epoch's normal cell below the collapse threshold (5 of 8 parameter-free edges; it gave 2 and 3).
    The same prior at the same strength and seed with a parameter-free expert collapses it (6 of 8 in both epochs): at
    this strength the prior decides the cell, so the check can fail, and what keeps it healthy is the expert's
    topology. Two epochs, so that the second runs after an IRL update; in-process, as the CLI is not what this
    checks."""
    short = ["dataset.limit=400", "search.epochs=2", "regularizer.lambda=1.0", "logger.progress=false",
             "runtime.threads=1"]
    worst = {}
    for name, extra in (("shipped", []), ("param_free", [f'expert.darts=["{PARAM_FREE_EXPERT}"]'])):
        run_search(compose_search(*short, *extra), tmp_path / name)
        rows = history_rows(tmp_path / name)
        assert len(rows) == 2
        worst[name] = max(int(r["param_free_normal"]) for r in rows)
    assert worst["shipped"] < 5
    assert worst["param_free"] >= 5
