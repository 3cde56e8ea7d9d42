"""experiments/profile_step.py: a row per configuration asked for with the step's wall time, the time in operators
and how many a step dispatches (tiny CPU run), and a bad --configs refused."""

from __future__ import annotations

import pytest


def test_a_row_per_configuration_with_wall_time_operators_and_syncs(script, capsys):
    module = script("profile_step")
    assert module.main(["--size", "small", "--batch", "4", "--configs", "lean0-cl0", "--steps", "1",
                        "--warmup", "0", "--top", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ours")]
    assert [r[0].strip() for r in rows] == ["ours lean0-cl0"]  # one: the profiler's bookkeeping is the slow part
    for _, wall, busy, share, ops, syncs in rows:
        assert float(wall) > 0 and float(busy) > 0 and share.strip().endswith("%")
        assert int(ops) > 100 and int(syncs) >= 1  # the step's loss.item() waits once at least
    assert "aten::" in out  # the operator tables


def test_an_unknown_configuration_is_refused(script, capsys):
    with pytest.raises(SystemExit) as err:
        script("profile_step").main(["--configs", "lean2-cl1"])
    assert err.value.code == 2 and "--configs" in capsys.readouterr().err
