"""A real (tiny) sweep through the CLI, one job lost, then irlas-report on it (its console entry, in this process:
the sweep folder Hydra wrote is what it is tested on)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from irlas_darts.app import report_app

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WANDB_MODE="disabled")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)


@pytest.mark.slow
def test_report_on_a_sweep_with_a_missing_job(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    res = run("irlas_darts", "-m", "space=nb201", "dataset=synthetic", "regularizer=none,irl", "seed=0,1",
              "search.epochs=1", "evaluate.enabled=true", "logger.progress=false", "runtime.threads=1",
              f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 4
    for job in jobs:
        assert (job / "eval" / "metrics.json").is_file()
    (jobs[3] / "metrics.json").unlink()  # a job that died before writing its metrics

    report_app.main([str(sweep)])
    stdout = capsys.readouterr().out
    report = (sweep / "report.md").read_text()
    assert "none" in stdout and "irl" in stdout and "±" in stdout
    assert "regularizer=irl" in report and "seed=1" in report  # the missing job is listed with its overrides
    pngs = list(sweep.glob("*.png"))
    assert any("accuracy" in p.name for p in pngs) and any("distance" in p.name for p in pngs)
    for png in pngs:
        assert png.read_bytes()[:4] == b"\x89PNG"
