"""The built wheel is all a run needs: installed (not editable) into a fresh virtual environment, the four entry
points work from any directory. Reuses the project's installed dependencies, so nothing is downloaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_INPUTS = ("setup.cfg", "pyproject.toml", "README.md", "conf", "src")


def sh(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding only the wheel; the project's site-packages (torch, hydra, ...) come in through a .pth file."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy, so that the build leaves nothing (build/, *.egg-info) in the checkout
    source.mkdir()
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, source / name)
    res = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
             "-w", tmp / "dist", source, cwd=tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    wheel = next((tmp / "dist").glob("irlas_darts-*.whl"))
    venv = tmp / "venv"
    res = sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    assert res.returncode == 0, res.stderr
    python = venv / "bin" / "python"
    purelib = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip()
    # A plain path line: the project's dependencies become importable, but the .pth files there (the editable
    # install of this checkout) are not processed, so only the wheel provides irlas_darts.
    Path(purelib, "_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    res = sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel,
             cwd=tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    return venv


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    return dict(e, WANDB_MODE="disabled", OMP_NUM_THREADS="1")


def sh_together(cmds: dict[str, list], cwd: Path, env: dict[str, str]) -> dict[str, subprocess.CompletedProcess]:
    """Run independent commands side by side (each is one Python process, mostly importing) and wait for all."""
    procs = {name: subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name, cmd in cmds.items()}
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


@pytest.mark.slow
def test_the_installed_wheel_runs_from_any_directory(installed, tmp_path):
    bin_ = installed / "bin"
    work = tmp_path / "elsewhere"
    work.mkdir()
    # every entry point but irlas-report (which reads the search's output) at once, so that all cores take part
    res = sh_together({
        "where": [bin_ / "python", "-c", "import irlas_darts, irlas_darts.app.config as c; "
                  "print(irlas_darts.__file__); print(c.conf_dir())"],
        "search": [bin_ / "irlas-search", "dataset=synthetic", "space=nb201", "search.epochs=1",
                   "logger.progress=false", "runtime.threads=1", "hydra.run.dir=sweep/0"],
        "cfg": [bin_ / "python", "-m", "irlas_darts", "--cfg", "job", "space=nb201"],
        "help": [bin_ / "irlas-search", "--help"],
        "eval": [bin_ / "irlas-eval", "genotype=DARTS_V2", "eval.epochs=0", "eval.latency_batch=2",
                 "hydra.run.dir=ev"],
        "bad": [bin_ / "irlas-search", "space=nosuchspace"],
    }, cwd=work, env=env())
    where = res["where"]
    module_file, conf = where.stdout.split()
    assert module_file.startswith(str(installed)) and conf.startswith(str(installed)), where.stdout + where.stderr

    assert res["search"].returncode == 0, res["search"].stderr
    metrics = json.loads((work / "sweep" / "0" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["dataset"] == "synthetic"
    # the packaged NAS-Bench-201 table ships in the wheel: an NB201 search is scored with no option
    assert metrics["benchmark"]["cifar10_valid_acc"] > 0 and 0 < metrics["benchmark_percentile"]["cifar10_valid_acc"] < 100
    assert (work / "sweep" / "0" / "benchmark_curve.png").is_file()
    # the drop-in prior finds the shipped experts inside the installed package
    prior = sh(bin_ / "python", "-c", "import torch; from irlas_darts.prior import Prior; "
               "p = Prior('darts', 'resnext'); torch.manual_seed(0); a = (0.1 * torch.randn(14, 8)).requires_grad_(); "
               "p.loss(a, torch.randn(14, 8)).backward(); print(len(p.expert), float(a.grad.abs().sum()) > 0)",
               cwd=work, env=env())
    from omegaconf import OmegaConf
    listed = len(OmegaConf.load(ROOT / "conf" / "expert" / "resnext.yaml")["darts"])  # the source tree's count
    assert prior.returncode == 0 and prior.stdout.split() == [str(listed), "True"], prior.stdout + prior.stderr

    cfg = res["cfg"]
    assert cfg.returncode == 0 and "name: nb201" in cfg.stdout, cfg.stderr
    helptext = res["help"]
    assert helptext.returncode == 0 and "irlas-search" in helptext.stdout and "regularizer:" in helptext.stdout

    assert res["eval"].returncode == 0, res["eval"].stderr
    assert json.loads((work / "ev" / "metrics.json").read_text())["params"] > 0

    report = sh(bin_ / "irlas-report", "sweep", cwd=work, env=env())
    assert report.returncode == 0, report.stderr
    assert (work / "sweep" / "report.md").is_file()

    bad = res["bad"]
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "darts, nb201" in bad.stderr
