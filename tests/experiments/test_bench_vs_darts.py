"""experiments/bench_vs_darts.py without the original code: ours alone, and a wrong --darts-dir refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "bench_vs_darts.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_ours_alone_prints_a_row_per_mode_and_batch():
    out = run("--batches", "2", "--modes", "first,second_fd", "--steps", "1", "--warmup", "0", "--threads", "1")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "batch" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["first order", "second order, finite differences"]
    for r in rows:
        ms, mb = (float(c) for c in r.split("|")[3:5])
        assert ms > 0 and mb >= 0


def test_a_folder_without_the_original_code_is_refused(tmp_path):
    out = run("--darts-dir", str(tmp_path), "--batches", "2")
    assert out.returncode != 0
    assert "--darts-dir" in out.stderr and "model_search.py" in out.stderr
    out = run("--lean", "1,2", "--batches", "2")
    assert out.returncode != 0 and "--lean" in out.stderr and "'1,2'" in out.stderr


def test_the_small_size_is_make_search_supernet_with_and_without_the_lean_nodes():
    out = run("--size", "small", "--batches", "4", "--modes", "first", "--steps", "1", "--warmup", "0",
              "--threads", "1", "--lean", "1,0")
    assert out.returncode == 0, out.stderr
    assert "small: 8 ch, 4 cells, 8 px" in out.stdout
    rows = [line for line in out.stdout.splitlines() if line.startswith("| first order")]
    assert [r.split("|")[1].strip() for r in rows] == ["first order", "first order, search.lean=false"]
    assert all(r.split("|")[2].strip() == "4" for r in rows)


def test_the_table_names_the_allocator_its_peak_memory_was_measured_on(script, monkeypatch):
    bench = script("bench_vs_darts")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    assert bench.allocator() == "allocator glibc malloc"
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4")
    assert bench.allocator() == "allocator libtcmalloc_minimal.so.4"
