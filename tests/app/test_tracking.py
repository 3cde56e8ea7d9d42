"""wandb is optional: disabled never imports it, and a failure to start it is a warning, not the end of the run."""

import logging
import sys
import types

from omegaconf import OmegaConf

from irlas_darts.app.tracking import Tracker


def cfg(mode: str):
    return OmegaConf.create({"logger": {"wandb": {"mode": mode, "project": "p", "entity": None, "group": None}},
                             "space": {"name": "nb201"}, "regularizer": {"name": "irl"}, "seed": 0})


def test_disabled_does_not_touch_wandb(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # importing it would fail
    tracker = Tracker(cfg("disabled"), tmp_path)
    tracker.log_epoch({"epoch": 1, "val_acc": 0.5})
    tracker.finish({}, tmp_path / "g.json", [])
    assert tracker.run is None


def test_failure_to_start_is_a_warning(tmp_path, monkeypatch, caplog):
    fake = types.ModuleType("wandb")

    def init(**kwargs):
        raise RuntimeError("no network\nmore detail")

    fake.init = init
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with caplog.at_level(logging.WARNING):
        tracker = Tracker(cfg("online"), tmp_path)
    assert tracker.run is None
    assert "wandb could not start (no network)" in caplog.text
    tracker.log_epoch({"epoch": 1})  # no-ops afterwards


def test_offline_run_logs_metrics(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("wandb")

    class Run:
        id = "x"
        summary = {}

        def log(self, data, step=None):
            calls.append((data, step))

        def finish(self):
            calls.append("finish")

        def log_artifact(self, artifact):
            calls.append("artifact")

    fake.init = lambda **kwargs: Run()
    fake.Artifact = lambda name, type: types.SimpleNamespace(add_file=lambda p: None)
    fake.Image = lambda p: p
    monkeypatch.setitem(sys.modules, "wandb", fake)
    tracker = Tracker(cfg("offline"), tmp_path)
    tracker.log_epoch({"epoch": 2, "val_acc": 0.5, "genotype": "g"})
    tracker.finish({"val_acc": 0.5}, tmp_path / "g.json", [tmp_path / "cell_cell.png"])
    assert calls[0] == ({"epoch": 2, "val_acc": 0.5}, 2)
    assert "artifact" in calls and calls[-1] == "finish"
