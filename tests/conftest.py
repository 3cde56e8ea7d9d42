import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import torch  # noqa: E402

# Tests use tiny tensors: one thread avoids oversubscription when several test processes share the cores.
torch.set_num_threads(1)


import functools  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Back to one thread after every test: a script's ``main`` that sets ``--threads`` (and refuses its input after
    that) left two behind, and every later test in that worker ran its tiny ops on two threads, spinning."""
    yield
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _short_latency_window(monkeypatch):
    """The apps time each evaluated network with at least 0.3 s per batch size (``measure_latency``); tests that run
    an app only check that the figures are there, so they get a 0.01 s window. tests/evaluation/test_measure.py
    calls ``measure_latency`` itself and keeps its default."""
    from irlas_darts.app import evaluation_run

    monkeypatch.setattr(evaluation_run, "measure_latency",
                        functools.partial(evaluation_run.measure_latency, min_run_time=0.01))
