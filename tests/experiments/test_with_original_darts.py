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
