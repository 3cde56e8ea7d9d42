"""experiments/gpu_check.py on a machine without a GPU: it refuses in one line before doing any work, its table says
what every part measured or why it did not, and its CPU dry run drives the same plumbing (worker processes, budgets,
bench_search, torchrun and the process-group probe) at a tiny size."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "gpu_check.py"


def run(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_without_cuda_it_refuses_in_one_line_and_writes_nothing(tmp_path):
    res = run("--json", str(tmp_path / "out.json"), cwd=tmp_path, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("gpu_check: error: ")
    assert "CUDA" in res.stderr and "--device cpu" in res.stderr
    assert res.stdout == "" and list(tmp_path.iterdir()) == []  # no JSON, no table: no work was done


def fake_result(gpu_check) -> dict:
    """What a CUDA run returns when one search failed, one was not reached and one bench mode timed out."""
    runs = [{"algorithm": a, "space": s, "order": o, "status": "ok", "seconds": 2.0, "val_acc": 0.5,
             "device": "cuda"} for s in gpu_check.SPACES for o in gpu_check.ORDERS for a in gpu_check.ALGORITHMS]
    runs[3] = {**runs[3], "status": "failed", "error": "RuntimeError: CUDA out of memory | more"}
    runs[-1] = {**runs[-1], "status": "missing", "error": "not reached: the part's budget ran out", "seconds": None}
    bench = [{"mode": "first", "batch": 64, "median_ms": 1000.0, "peak_mb": 2048.0, "peak_kind": "cuda_alloc"},
             {"mode": "second_exact", "batch": 64, "median_ms": 4000.0, "peak_mb": 6000.0, "peak_kind": "cuda_alloc"},
             {"mode": "second_fd", "batch": 64, "median_ms": math.nan, "peak_mb": math.nan, "error": "timed out"}]
    return {"device": "cuda", "device_name": "NVIDIA H200", "seconds": 400.0, "selected": list(gpu_check.PARTS),
            "parts": {"tests": {"status": "ok", "seconds": 30.0, "counts": {"passed": 5, "deselected": 820}},
                      "searches": {"status": "failed", "seconds": 200.0, "runs": runs},
                      "bench": {"status": "failed", "seconds": 100.0, "rows": bench}}}


def test_the_table_reports_every_case_and_projects_a_50_epoch_cifar_search(script):
    gpu_check = script("gpu_check")
    table = gpu_check.build_table(fake_result(gpu_check))
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| part")]
    searches = [r for r in rows if r.startswith("| searches |")]
    assert len(searches) == 16  # 4 algorithms x 2 spaces x 2 orders, each with its own status
    assert sum("| ok |" in r for r in searches) == 14
    assert any("| failed |" in r and "out of memory / more" in r for r in searches)  # a '|' cannot break the table
    assert any("| missing |" in r and "budget ran out" in r for r in searches)
    # 1000 ms x (25000 // 64 = 390 steps) x 50 epochs = 19500 s = 5.42 h
    assert gpu_check.projected_hours(1000.0, 64) == pytest.approx(19500 / 3600)
    assert any("first, batch 64" in r and "≈ 5.4 h" in r and "2048 MB" in r for r in rows)
    assert any("second_fd, batch 64 | failed" in r and "timed out" in r for r in rows)
    assert "1000 ms/step x 390 steps x 50 epochs = 5.42 h" in table
    assert any(r.startswith("| torchrun |") and "no time left" in r for r in rows)  # selected, never started
    assert all(r.count("|") == 6 for r in rows)  # five cells in every row


def test_without_a_first_order_step_there_is_no_projection(script):
    gpu_check = script("gpu_check")
    result = fake_result(gpu_check)
    result["parts"]["bench"]["rows"] = result["parts"]["bench"]["rows"][1:]
    assert "not available" in gpu_check.build_table(result)


def test_an_unknown_part_or_algorithm_is_refused_in_one_line(tmp_path):
    for flag, value in (("--parts", "bench,warp"), ("--algorithms", "darts,enas"), ("--modes", "first,third")):
        res = run(flag, value, "--device", "cpu", cwd=tmp_path, timeout=120)
        assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
        assert flag in res.stderr and value.split(",")[1] in res.stderr


@pytest.mark.slow
def test_cpu_dry_run_drives_the_searches_the_bench_and_torchrun(tmp_path):
    """One algorithm in one space, first and second order (the worker, its JSON lines, the budget), a bench mode in
    its own process, the app and the process-group probe under torchrun: every kind of process the check starts,
    once. (``pytest -m cuda`` is left out here: it would collect the whole suite inside the suite.)"""
    out = tmp_path / "check.json"
    res = run("--device", "cpu", "--parts", "searches,bench,torchrun", "--algorithms", "gdas", "--spaces", "nb201",
              "--modes", "first", "--json", str(out), cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads(out.read_text())
    parts = result["parts"]
    assert set(parts) == {"searches", "bench", "torchrun"}
    assert all(p["status"] == "ok" for p in parts.values()), {k: p["status"] for k, p in parts.items()}
    runs = parts["searches"]["runs"]
    assert sorted(r["order"] for r in runs) == ["first", "second"]
    assert all(r["status"] == "ok" and r["device"] == "cpu" and (r["algorithm"], r["space"]) == ("gdas", "nb201")
               for r in runs)
    rows = parts["bench"]["rows"]
    assert [r["mode"] for r in rows] == ["first"] and rows[0]["median_ms"] > 0 and "error" not in rows[0]
    probe = parts["torchrun"]["probe"]
    assert probe["backend"] == "gloo" and probe["sum"] == probe["want"] == 1.0
    assert parts["torchrun"]["app"]["device"] == "cpu"
    assert res.stdout.strip() == result["table"].strip()
    assert "| tests |  | not run |" in res.stdout and "tiny CPU dry run" in res.stdout


def test_a_part_that_hangs_costs_its_budget_and_keeps_its_output(script):
    gpu_check = script("gpu_check")
    hung = gpu_check._run(["bash", "-c", "echo started; sleep 30 & sleep 30"], 1.0)  # a child of its own too
    assert hung["status"] == "timed out" and hung["timed_out"] and hung["seconds"] < 10
    assert hung["tail"].strip() == "started"
    failed = gpu_check._run(["bash", "-c", "echo why >&2; exit 3"], 10.0)
    assert failed["status"] == "exit code 3" and not failed["timed_out"] and "why" in failed["tail"]


def test_pytest_counts_read_the_summary_or_what_ran_before_the_cut(script):
    gpu_check = script("gpu_check")
    done = ("tests/a.py::t1 PASSED   [ 50%]\ntests/a.py::t2 SKIPPED  [100%]\n"
            "== 1 passed, 1 skipped, 9 deselected in 3s ==")
    assert gpu_check.pytest_counts(done, timed_out=False) == {"passed": 1, "skipped": 1, "deselected": 9}
    cut = "tests/a.py::t1 PASSED   [ 33%]\ntests/a.py::t2[x] FAILED   [ 66%]\ntests/b.py::t3[search] "
    counts = gpu_check.pytest_counts(cut, timed_out=True)
    assert counts == {"passed": 1, "failed": 1, "cut while running": "tests/b.py::t3[search]"}
    assert "cut while running tests/b.py::t3[search]" in gpu_check.build_table(
        {**fake_result(gpu_check), "parts": {"tests": {"status": "timed out", "seconds": 90.0, "counts": counts}}})


def test_the_bench_mode_first_plain_runs_the_search_step_with_the_lean_nodes_off(script, monkeypatch):
    """The bench part's ``first_plain`` row is first order with ``search.lean=false`` (run here in-process, tiny)."""
    script("gpu_check")  # puts experiments/ on sys.path
    import bench_search

    from irlas_darts.search import loop

    settings, rows = [], []
    real = loop.SearchSettings
    monkeypatch.setattr(loop, "SearchSettings", lambda **kw: settings.append(kw) or real(**kw))
    queue = type("Rows", (), {"put": staticmethod(rows.append)})
    for mode in ("first", "first_plain"):
        bench_search._measure(mode, 2, 1, 0, "cpu", 1, queue, channels=4, layers=3, size=8)
    assert [s["lean"] for s in settings] == [True, False] and [s["order"] for s in settings] == ["first", "first"]
    assert [r["mode"] for r in rows] == ["first", "first_plain"] and all(r["median_ms"] > 0 for r in rows)
