"""experiments/bench_ab.py: another revision's search step beside this tree's, in one process; a revision against
itself takes the very same steps, and a revision git does not know is refused in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout (git archive)")


def test_head_against_the_tree_prints_a_row_per_mode(script, capsys):
    script("bench_ab").main(["--base", "HEAD", "--batch", "4", "--modes", "first", "--rounds", "1", "--warmup", "0",
                     "--threads", "1"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| first")]
    assert len(rows) == 1
    _, base_ms, ours_ms, speedup, same = (c.strip() for c in rows[0])
    assert float(base_ms) > 0 and float(ours_ms) > 0 and speedup.endswith("x")
    clean = not subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True,
                               text=True).stdout.strip()
    if clean:  # the same code, the same seed: the same steps to the bit
        assert same == "yes"


def test_an_unknown_revision_or_mode_is_refused_in_one_line(script):
    module = script("bench_ab")
    with pytest.raises(SystemExit, match="--base no-such-rev"):
        module.main(["--base", "no-such-rev", "--modes", "first"])
    with pytest.raises(SystemExit, match="--modes third"):
        module.main(["--base", "HEAD", "--modes", "third"])
