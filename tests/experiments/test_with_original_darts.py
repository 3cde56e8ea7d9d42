"""experiments/with_original_darts.py: a wrong --darts-dir is refused; with the original code (``DARTS_CNN_DIR``, its
``cnn/`` folder) one step of each arm runs and prints the table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "with_original_darts.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, env=env)


def test_a_folder_without_the_original_code_is_refused(tmp_path):
    out = run("--darts-dir", str(tmp_path))
    assert out.returncode == 2
    assert "--darts-dir" in out.stderr and "model_search.py" in out.stderr


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DARTS_CNN_DIR"), reason="set DARTS_CNN_DIR to the original code's cnn/ folder")
def test_the_original_search_runs_plain_and_with_the_prior():
    out = run("--darts-dir", os.environ["DARTS_CNN_DIR"], "--epochs", "1", "--steps", "1", "--channels", "2",
              "--layers", "3", "--batch", "2")
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[1:3] for line in out.stdout.splitlines() if line.startswith("| first") or
            line.startswith("| second")]
    assert [(o.strip(), a.strip()) for o, a in rows] == [("first", "plain"), ("first", "prior"), ("second", "plain"),
                                                         ("second", "prior")]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DARTS_CNN_DIR"), reason="set DARTS_CNN_DIR to the original code's cnn/ folder")
def test_the_readme_lines_in_the_original_architect_give_the_scripts_gradient(tmp_path, monkeypatch):
    """README's two ``architect.py`` lines, applied to a copy of the original, equal the script's PriorArchitect."""
    import importlib.util
    import shutil
    import types
    import warnings

    import torch
    from torch import nn

    root = SCRIPT.parents[1]
    monkeypatch.syspath_prepend(str(root / "experiments"))
    monkeypatch.setattr(torch.Tensor, "cuda", torch.Tensor.cuda)  # the CPU shim patches these: undone after the test
    monkeypatch.setattr(nn.Module, "cuda", nn.Module.cuda)
    from bench_vs_darts import import_original
    from with_original_darts import prior_architect

    from irlas_darts.prior import Prior

    warnings.filterwarnings("ignore")
    original = Path(os.environ["DARTS_CNN_DIR"])
    Architect, Network = import_original(str(original), torch.device("cpu"))
    source = (original / "architect.py").read_text()
    lines = [line for line in (root / "README.md").read_text().splitlines() if "self.prior.loss(" in line]
    assert len(lines) == 2
    for line in lines:  # each README line is an original line with "+ self.prior.loss(...)" appended
        before = line.split(" + self.prior.loss(")[0]
        assert source.count(before + "\n") == 1, before
        source = source.replace(before + "\n", line + "\n")
    patched = tmp_path / "architect_with_prior.py"
    patched.write_text(source)
    spec = importlib.util.spec_from_file_location("architect_with_prior", patched)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hyper = types.SimpleNamespace(momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4, arch_weight_decay=1e-3)
    x, y = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([1, 2, 3, 4])
    for unrolled in (False, True):
        grads = []
        for readme in (True, False):
            torch.manual_seed(1)
            model = Network(2, 10, 3, nn.CrossEntropyLoss())
            optimizer = torch.optim.SGD(model.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)
            prior = Prior("darts", lam=0.5)
            if readme:
                architect = module.Architect(model, hyper)
                architect.prior = prior
            else:
                architect = prior_architect(Architect, prior, True)(model, hyper)
            if unrolled:
                architect._backward_step_unrolled(x[:2], y[:2], x[2:], y[2:], 0.025, optimizer)
            else:
                architect._backward_step(x[2:], y[2:])
            grads.append([a.grad.clone() for a in model.arch_parameters()])
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
