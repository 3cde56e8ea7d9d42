"""experiments/interleave_vs_darts.py: the two implementations' steps alternate in one process (so a slow minute of
the machine hits both), a wrong --darts-dir or mode is refused in one line, and with the original code
(``DARTS_CNN_DIR``) a row per mode comes out."""

from __future__ import annotations

import os

import pytest


def test_steps_alternate_and_only_the_measured_rounds_are_timed(script):
    interleave = script("interleave_vs_darts").interleave
    calls = []
    steps = {"original": lambda: calls.append("o"), "ours": lambda: calls.append("u")}
    times = interleave(steps, rounds=3, warmup=1)
    assert "".join(calls) == "ou" + "uo" + "ou" + "uo"  # warm-up round first, then each order as often as the other
    assert [len(times["original"]), len(times["ours"])] == [3, 3] and all(t >= 0 for t in times["ours"])


@pytest.mark.parametrize("args, needle", [(["--darts-dir", "{tmp}"], "model_search.py"),
                                          (["--darts-dir", "{tmp}", "--modes", "first,third"], "third")])
def test_bad_arguments_are_refused_in_one_line(script, tmp_path, capsys, args, needle):
    main = script("interleave_vs_darts").main
    with pytest.raises(SystemExit) as exit_:
        main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and needle in err[-1]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DARTS_CNN_DIR"), reason="set DARTS_CNN_DIR to the original code's cnn/ folder")
def test_a_row_per_mode_with_the_original_code(script, capsys):
    main = script("interleave_vs_darts").main
    assert main(["--darts-dir", os.environ["DARTS_CNN_DIR"], "--size", "small", "--batch", "4", "--rounds", "1",
                 "--warmup", "0", "--modes", "first,second_fd", "--threads", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| first") or
            line.startswith("| second_fd")]
    assert len(rows) == 2 and all(r.count("|") == 7 for r in rows)
