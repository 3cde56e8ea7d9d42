"""``torchrun -m irlas_darts`` end to end on 2 CPU processes (gloo): outputs from rank 0 only, ``metrics.json``'s
world size, one "distributed" log line, and SIGKILL of one rank mid-search followed by ``resume=true`` under
torchrun ending exactly as an uninterrupted distributed run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
FAST = ["dataset=synthetic", "space=nb201", "logger.progress=false", "runtime.threads=1", "search.epochs=3",
        "search.sync_bn=true"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed")]


def env(tmp: Path) -> dict[str, str]:
    """The launch environment; ``TMPDIR`` in the test's folder, where torchrun's agent leaves its log folder."""
    e = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WANDB_MODE="disabled", OMP_NUM_THREADS="1", TMPDIR=str(tmp))
    e.pop("HYDRA_FULL_ERROR", None)
    return e


def torchrun_cmd(*args: str) -> list[str]:
    return [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "irlas_darts", *args]


def rows(run: Path) -> list[dict]:
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def worker_of_rank(agent: int, rank: int) -> int | None:
    """The pid of torchrun's worker with ``RANK=rank`` (workers are the agent's children)."""
    for task in Path(f"/proc/{agent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RANK={rank}".encode() in environ:
                return int(pid)
    return None


def test_kill_one_rank_then_resume_under_torchrun_equals_an_uninterrupted_run(tmp_path):
    # The uninterrupted run and the one to be cut start together (independent jobs, each mostly its processes'
    # imports); the cut one is watched as before, and a slower start only widens the window to kill it in.
    whole, cut, whole_log = tmp_path / "whole", tmp_path / "cut", tmp_path / "whole.log"
    with open(whole_log, "w") as log_file:
        whole_proc = subprocess.Popen(torchrun_cmd(*FAST, f"hydra.run.dir={whole}"), env=env(tmp_path), cwd=ROOT,
                                      stdout=log_file, stderr=subprocess.STDOUT)
    proc = subprocess.Popen(torchrun_cmd(*FAST, f"hydra.run.dir={cut}"), env=env(tmp_path), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, killed = time.time() + 240, None
        while time.time() < deadline and proc.poll() is None:
            if (cut / "history.csv").is_file() and len(rows(cut)) >= 1:
                killed = worker_of_rank(proc.pid, 1)
                if killed is not None:
                    os.kill(killed, signal.SIGKILL)
                    break
            time.sleep(0.05)
        assert killed is not None, "the run finished before a rank could be killed"
        assert proc.wait(timeout=120) != 0  # torchrun ends the other rank and fails
        assert whole_proc.wait(timeout=300) == 0, whole_log.read_text()[-3000:]
    finally:
        for p in (proc, whole_proc):
            if p.poll() is None:  # a failed check above: torchrun passes SIGTERM on to its workers
                p.terminate()
                p.wait(timeout=60)
    log = whole_log.read_text()
    metrics = json.loads((whole / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["per_rank_batch_size"] == 16
    assert metrics["backend"] == "gloo" and metrics["sync_bn"] is True
    assert log.count("distributed search: 2 processes (gloo backend)") == 1  # said once, by rank 0
    assert log.count("epoch 1/3") == 1  # the other rank logs nothing
    assert (whole / ".hydra" / "config.yaml").is_file()

    assert not (cut / "metrics.json").exists()
    done = len(rows(cut))
    assert 1 <= done < 3

    res = subprocess.run(torchrun_cmd(*FAST, f"hydra.run.dir={cut}", "resume=true"), capture_output=True,
                         text=True, env=env(tmp_path), cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"at epoch {done}" in res.stdout + res.stderr
    resumed = json.loads((cut / "metrics.json").read_text())
    for key in ("genotype", "val_acc", "val_loss", "alphas", "topology", "world_size"):
        assert resumed[key] == metrics[key], key
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(rows(cut)) == strip(rows(whole))

