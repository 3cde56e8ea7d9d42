"""experiments/hvp_accuracy.py: every float32 product against the float64 exact one; the exact methods are within
float32's rounding of it, DARTS' finite differences are reported (and written out in float64 agree with the
searcher's), and a wrong option is refused in one line."""

from __future__ import annotations

import re

import pytest


def test_the_exact_methods_agree_with_the_float64_product(script, capsys):
    script("hvp_accuracy").main(["--batch", "4", "--steps", "1", "--threads", "1", "--fd-steps", "0.01"])
    out, fd_table = capsys.readouterr().out.split("| finite differences in float64")
    rows = {cells[0]: cells[1:] for line in out.splitlines() if line.startswith("| ") and "---" not in line
            for cells in [[c.strip() for c in line.split("|")[1:-1]]] if cells[0] != "search.hvp"}
    assert list(rows) == ["exact", "exact_recompute", "double_backward", "jvp", "finite_difference"]
    for mode in ("exact", "exact_recompute", "double_backward", "jvp"):
        relative, largest, ms = (float(c) for c in rows[mode])
        assert relative < 1e-3 and largest < 1e-3 and ms > 0, (mode, rows[mode])
    assert float(rows["finite_difference"][0]) > 0
    # DARTS' difference written out in float64 at the searcher's step: the searcher's own float32 one, up to rounding
    fd64 = float(fd_table.splitlines()[-1].split("|")[2])
    assert fd64 == pytest.approx(float(rows["finite_difference"][0]), rel=0.25)
    counts = [re.search(r": (\d+) of (\d+)", line).groups() for line in out.splitlines()
              if line.startswith("ReLU inputs")]
    assert len(counts) == 2  # float32 against float64, and w + r v against w - r v
    for changed, total in ((int(a), int(b)) for a, b in counts):
        assert 0 <= changed <= total and total > 0


@pytest.mark.parametrize("args,needle", [(["--modes", "exact,taylor"], "--modes exact,taylor"),
                                         (["--fd-steps", "0.01,-1"], "--fd-steps 0.01,-1"),
                                         (["--fd-steps", "small"], "--fd-steps small")])
def test_a_wrong_option_is_refused_in_one_line(script, capsys, args, needle):
    with pytest.raises(SystemExit):
        script("hvp_accuracy").main(args)
    assert needle in capsys.readouterr().err
