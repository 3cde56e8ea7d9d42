"""experiments/bench_dilated.py: a row for every shape and kernel, both forms timed."""

from __future__ import annotations


def test_a_row_per_shape_and_kernel_with_both_forms_timed(script, capsys):
    module = script("bench_dilated")
    assert module.main(["--batches", "2", "--repeats", "1", "--threads", "1"]) == 0
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| 2 |")]
    assert [(r[1], r[2], r[3]) for r in rows] == [(str(c), f"{s}×{s}", f"{k}×{k}") for c, s in module.SHAPES
                                                  for k in (3, 5)]
    for *_, dilated, phases, ratio in rows:
        d, p, r = float(dilated), float(phases), float(ratio)
        assert d > 0 and p > 0
        # the ratio of the unrounded times: within the printed figures' rounding (0.5 us each, 0.005)
        assert abs(r - d / p) <= r * (0.5 / d + 0.5 / p) * 1.01 + 0.005
