"""The collapse curve: a PNG from plain lists, with reference lines; mismatched lengths are one clear error."""

import pytest

from irlas_darts.viz import plot_benchmark_curve


def test_the_curve_is_a_png_with_or_without_epochs(tmp_path):
    out = plot_benchmark_curve([1, 2, 3], [88.0, 86.5, 70.2], tmp_path / "c.png",
                               references={"best cell": 91.6, "expert cell": 91.3})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_benchmark_curve([], [], tmp_path / "empty.png").is_file()
    assert not list(tmp_path.glob(".*.tmp"))


def test_one_accuracy_per_epoch():
    with pytest.raises(ValueError, match="one accuracy per epoch"):
        plot_benchmark_curve([1, 2], [88.0], "never.png")
