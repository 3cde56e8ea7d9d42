"""Pictures: every function writes a real PNG, and cell drawings show exactly the genotype's edges, readably."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from matplotlib.path import Path as MplPath

from irlas_darts.spaces import PUBLISHED_GENOTYPES, Genotype, NB201Genotype, create_space, published_genotype
from irlas_darts.viz import (
    alpha_heatmap, draw_cell, draw_cell_on, draw_genotype, plot_accuracy_vs_latency, plot_cells_grid, plot_curves,
    save_figure,
)
from irlas_darts.viz.cell import R, _arc_path, _bezier, new_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NB201_WITH_NONE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NB201_CHAIN = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|"


def assert_png(path: Path) -> np.ndarray:
    path = Path(path)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4), img.shape
    assert img.shape[0] > 50 and img.shape[1] > 50
    assert float(img[..., :3].std()) > 0.01, "blank picture"
    return img


def only_files(directory: Path) -> set[str]:
    """Everything in the folder, hidden names included, so leftover temp files would show."""
    return set(os.listdir(directory))


def draw_on_fresh_axes(genotype, cell: str, **kw):
    fig = new_figure(8, 5)
    ax = fig.add_axes((0, 0, 1, 1))
    return fig, ax, draw_cell_on(ax, genotype, cell, **kw)


def expected_edges(genotype, cell: str) -> list[tuple[int, int, str]]:
    kept = [e for e in genotype.edges(cell) if e[2] != "none"]
    if genotype.space == "nb201":
        return kept
    out = genotype.n_inputs + len(getattr(genotype, cell)) // 2
    return kept + [(n, out, "concat") for n in genotype.concat(cell)]


def arrow_polylines(fig, drawn) -> list[np.ndarray]:
    fig.canvas.draw()
    return [np.concatenate(a.get_path().to_polygons(closed_only=False)) for a in drawn.arrows]


# --- cell drawings ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PUBLISHED_GENOTYPES)
def test_draw_cell_writes_png_for_published_genotypes(name, tmp_path):
    g = published_genotype(name)
    for cell in g.cell_types:
        out = draw_cell(g, cell, tmp_path / f"{name}_{cell}.png", title=f"{name} {cell}")
        assert out == tmp_path / f"{name}_{cell}.png"
        assert_png(out)
    assert only_files(tmp_path) == {f"{name}_{c}.png" for c in g.cell_types}


@pytest.mark.parametrize("name,cell", list(itertools.product(PUBLISHED_GENOTYPES, ("normal", "reduce"))))
def test_published_cell_has_one_arrow_per_edge_and_readable_labels(name, cell):
    g = published_genotype(name)
    fig, ax, drawn = draw_on_fresh_axes(g, cell)
    want = expected_edges(g, cell)
    assert len(drawn.arrows) == len(g.edges(cell)) + len(g.concat(cell)) == len(want)
    assert sorted(drawn.edges) == sorted(want)
    assert drawn.dropped == []
    assert sorted(t.get_text() for t in drawn.labels) == sorted(op for _, _, op in g.edges(cell))

    boxes = [MplPath(b, closed=False) for b in drawn.label_boxes]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.intersects_path(b, filled=True), "two op labels overlap"
    node_px = [ax.transData.transform(p) for p in drawn.positions.values()]
    for text, box in zip(drawn.labels, drawn.label_boxes):
        anchor = ax.transData.transform(text.get_position())
        np.testing.assert_allclose(box.mean(axis=0), anchor, atol=1e-6)  # the box is where the label really is
        assert not any(MplPath(box).contains_point(c) for c in node_px), "a label covers a node"


@pytest.mark.parametrize("name", PUBLISHED_GENOTYPES)
def test_no_arrow_runs_through_a_node(name):
    cases = [(published_genotype(name), c) for c in ("normal", "reduce")]
    cases.append((NB201Genotype.from_arch_str(NB201_CHAIN), "cell"))
    for g, cell in cases:
        fig, ax, drawn = draw_on_fresh_axes(g, cell)
        for (s, d, _), line in zip(drawn.edges, arrow_polylines(fig, drawn)):
            for n, c in drawn.positions.items():
                if n not in (s, d):
                    gap = np.linalg.norm(line - np.asarray(c), axis=1).min()
                    assert gap > R, f"edge {s}->{d} passes through node {n}"


def test_nb201_none_edge_is_not_an_arrow():
    g = NB201Genotype.from_arch_str(NB201_WITH_NONE)
    _, _, drawn = draw_on_fresh_axes(g, "cell")
    kept = [e for e in g.edges("cell") if e[2] != "none"]
    assert len(kept) == 5
    assert len(drawn.arrows) == len(kept) and sorted(drawn.edges) == sorted(kept)
    assert len(drawn.dropped) == 1 and drawn.dropped[0].get_linestyle() == "--"
    assert "none" in drawn.classes
    assert "none" not in [t.get_text() for t in drawn.labels]
    _, _, hidden = draw_on_fresh_axes(g, "cell", show_none=False)
    assert hidden.dropped == [] and len(hidden.arrows) == 5 and "none" not in hidden.classes


def test_nb201_cell_png_and_all_none_cell(tmp_path):
    assert_png(draw_cell(NB201Genotype.from_arch_str(NB201_WITH_NONE), "cell", tmp_path / "a.png"))
    empty = NB201Genotype.from_arch_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    _, _, drawn = draw_on_fresh_axes(empty, "cell")
    assert drawn.arrows == [] and len(drawn.dropped) == 6
    assert_png(draw_cell(empty, "cell", tmp_path / "b.png"))


@pytest.mark.parametrize("rad", [0.0, 0.3, -0.45])
def test_an_arrow_is_its_arc_cut_at_the_two_node_circles(rad):
    """The arrow's path is the ``arc3`` curve between the node centres, starting on the first node's circle and
    ending on the second's (what matplotlib's clipping by the node patches draws)."""
    p0, p2 = (0.0, 0.0), (3.2, 1.9)
    path = _arc_path(p0, p2, rad, 0.42, 0.5)
    start, control, end = path.vertices
    assert np.hypot(*(start - p0)) == pytest.approx(0.42, abs=1e-6)
    assert np.hypot(*(end - p2)) == pytest.approx(0.5, abs=1e-6)
    s = np.linspace(0, 1, 9)[:, None]
    sub = (1 - s) ** 2 * start + 2 * (1 - s) * s * control + s**2 * end  # the drawn quadratic Bézier
    full = _bezier(p0, p2, rad, np.linspace(0, 1, 20001))
    assert np.linalg.norm(sub[:, None] - full[None], axis=-1).min(axis=1).max() < 1e-3  # on the same curve


def test_parallel_edges_between_the_same_nodes_are_curved_apart():
    pairs = (("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2))
    g = Genotype(normal=pairs, normal_concat=(2, 3), reduce=pairs, reduce_concat=(2, 3))
    fig, _, drawn = draw_on_fresh_axes(g, "normal")
    twins = [i for i, (s, d, _) in enumerate(drawn.edges) if (s, d) == (0, 2)]
    assert len(twins) == 2
    a, b = (arrow_polylines(fig, drawn)[i] for i in twins)  # data units
    farthest = np.linalg.norm(a[:, None] - b[None], axis=-1).min(axis=1).max()  # a's point farthest from b
    assert farthest > R, "the two edges 0->2 are drawn on top of each other"


def test_draw_genotype_names_files_by_cell(tmp_path):
    paths = draw_genotype(published_genotype("DARTS_V2"), tmp_path, prefix="v2")
    assert [p.name for p in paths] == ["v2_normal.png", "v2_reduce.png"]
    nb = draw_genotype(NB201Genotype.from_arch_str(NB201_CHAIN), tmp_path / "nb")
    assert [p.name for p in nb] == ["cell_cell.png"]
    for p in paths + nb:
        assert_png(p)
    assert only_files(tmp_path) == {"v2_normal.png", "v2_reduce.png", "nb"}


def test_unknown_cell_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="cell: 'cell'.*normal"):
        draw_cell(published_genotype("DARTS_V1"), "cell", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --- atomic writes ---------------------------------------------------------------------------------------------------
def test_save_figure_replaces_atomically_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "sub" / "fig.png"
    fig = new_figure(2, 2)
    fig.add_subplot().plot([0, 1], [1, 0])
    save_figure(fig, target)
    first = target.read_bytes()
    assert only_files(target.parent) == {"fig.png"}
    assert target.stat().st_mode & 0o044 == 0o044  # readable by others, unlike the private temp file it came from

    class Broken:
        def savefig(self, fh, **kw):
            fh.write(b"\x89PNG half a picture")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(Broken(), target)
    assert target.read_bytes() == first  # the old picture survives a failed write
    assert only_files(target.parent) == {"fig.png"}  # and no temp file is left behind


# --- heatmaps and report plots ---------------------------------------------------------------------------------------
def test_alpha_heatmap_darts_tensors_and_nb201_arrays(tmp_path):
    darts = create_space("darts")
    alphas = {c: torch.nn.Parameter(a) for c, a in darts.init_alphas(torch.Generator().manual_seed(0), 1.0).items()}
    img = assert_png(alpha_heatmap(alphas, darts, tmp_path / "darts.png"))
    assert img.shape[1] > img.shape[0]  # two panels side by side
    nb = create_space("nb201")
    arr = {"cell": np.random.default_rng(0).normal(size=nb.alpha_shape)}
    assert_png(alpha_heatmap(arr, "nb201", tmp_path / "nb.png"))
    assert only_files(tmp_path) == {"darts.png", "nb.png"}


def test_alpha_heatmap_rejects_wrong_alphas(tmp_path):
    darts = create_space("darts")
    with pytest.raises(ValueError, match="missing cell 'reduce'"):
        alpha_heatmap({"normal": torch.zeros(darts.alpha_shape)}, darts, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"alphas\['normal'\]: shape"):
        alpha_heatmap({"normal": torch.zeros(3, 8), "reduce": torch.zeros(darts.alpha_shape)}, darts, tmp_path / "x.png")
    assert only_files(tmp_path) == set()


def test_accuracy_vs_latency(tmp_path):
    points = [dict(label=f"{g}-s{s}", group=g, latency_ms=3.0 + s + i, acc=94.0 + 0.3 * s)
              for i, g in enumerate(("none", "imitation", "irl")) for s in range(3)]
    assert_png(plot_accuracy_vs_latency(points, tmp_path / "acc.png", xlabel="latency (ms)", ylabel="acc (%)"))
    assert_png(plot_accuracy_vs_latency([], tmp_path / "empty.png", xlabel="x", ylabel="y"))
    with pytest.raises(ValueError, match=r"points\[0\]: missing keys \['acc'\]"):
        plot_accuracy_vs_latency([dict(label="a", group="g", latency_ms=1.0)], tmp_path / "bad.png")


def test_curves_with_uneven_seeds(tmp_path):
    curves = {"none": [[1.0, 0.8, 0.7, 0.6], [1.1, 0.9, 0.7]], "irl": [[1.0, 0.5, 0.3, 0.2]], "imitation": []}
    assert_png(plot_curves(curves, tmp_path / "dist.png", ylabel="||mu - mu_E||"))
    assert_png(plot_curves({}, tmp_path / "none.png", ylabel="y"))
    assert only_files(tmp_path) == {"dist.png", "none.png"}


def test_cells_grid(tmp_path):
    genos = [(n, published_genotype(n)) for n in PUBLISHED_GENOTYPES]
    img = assert_png(plot_cells_grid(genos, "normal", tmp_path / "grid.png"))
    single = assert_png(draw_cell(genos[0][1], "normal", tmp_path / "one.png"))
    assert img.shape[0] > single.shape[0] and img.shape[1] > single.shape[1]  # more than one row and column
    assert_png(plot_cells_grid([("nb", NB201Genotype.from_arch_str(NB201_WITH_NONE))], "cell", tmp_path / "nb.png"))
    with pytest.raises(ValueError, match="genotypes: empty"):
        plot_cells_grid([], "normal", tmp_path / "x.png")
