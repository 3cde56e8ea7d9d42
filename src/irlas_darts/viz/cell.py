"""Cell drawings: a genotype's cell as a left-to-right layered graph, arrows coloured by op class.

Layout, edge curvature and label placement are computed here so that no graphviz is needed; everything draws onto a
given Axes (``draw_cell_on``) so that single pictures and report grids share one drawing code.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch
from matplotlib.path import Path as MplPath
from matplotlib.text import Text

from ..spaces import AnyGenotype, create_space

Node = int
Pos = tuple[float, float]

CLASS_COLORS = {
    "conv": "#1f77b4",
    "pool": "#ff7f0e",
    "skip": "#2ca02c",
    "other": "#9467bd",
    "concat": "#555555",
    "none": "#b0b0b0",
}
CLASS_LEGEND = {
    "conv": "conv", "pool": "pool", "skip": "skip (identity)", "other": "other op",
    "concat": "concat -> output", "none": "none (no edge)",
}
NODE_COLORS = {"input": "#d6e9f8", "inner": "#fff5cc", "output": "#d9f2d0"}

DX, DY, R = 3.2, 1.9, 0.42  # layer spacing, in-layer spacing, node radius (data units)
GAP = 0.02  # between a node's circle and the arrows that leave or reach it (data units; about a point)
INCH_PER_UNIT = 0.72
BULGES = (0.0, 0.5, -0.5, 0.8, -0.8, 1.15, -1.15, 1.55, -1.55, 2.0, -2.0)  # curve apex offsets (data units)
LABEL_TS = (0.5, 0.42, 0.58, 0.35, 0.65, 0.28, 0.72, 0.22, 0.78, 0.16, 0.84)


@dataclass
class DrawnCell:
    """What ``draw_cell_on`` put on the Axes, so callers and tests can check the picture against the genotype."""

    arrows: list[FancyArrowPatch] = field(default_factory=list)  # one per kept edge, then one per concat edge
    edges: list[tuple[Node, Node, str]] = field(default_factory=list)  # parallel to arrows; op "concat" for concat
    labels: list[Text] = field(default_factory=list)  # op labels of the kept edges
    dropped: list[FancyArrowPatch] = field(default_factory=list)  # faint dashed ``none`` edges (NB201)
    label_boxes: list[np.ndarray] = field(default_factory=list)  # display-space corners (4, 2) of each label
    positions: dict[Node, Pos] = field(default_factory=dict)
    classes: set[str] = field(default_factory=set)  # edge classes present, for the legend


# --- graph ---------------------------------------------------------------------------------------------------------
def _check_cell(genotype: AnyGenotype, cell: str) -> None:
    if cell not in genotype.cell_types:
        raise ValueError(f"cell: {cell!r} is not a cell of this genotype; pass one of {list(genotype.cell_types)}")


def _output_is_last_node(genotype: AnyGenotype) -> bool:
    """NAS-Bench-201 cells end in a real node; DARTS cells end in a concat of several nodes."""
    return getattr(genotype, "space", "darts") == "nb201"


def op_class(genotype: AnyGenotype, op: str) -> str:
    try:
        return create_space(getattr(genotype, "space", "darts")).op_class(op)
    except KeyError:
        name = op.lower()
        for key, cls in (("none", "none"), ("conv", "conv"), ("pool", "pool"), ("skip", "skip"), ("identity", "skip")):
            if key in name:
                return cls
        return "other"


def cell_graph(genotype: AnyGenotype, cell: str) -> tuple[list[Node], Node, list[tuple[Node, Node, str]]]:
    """(nodes, output node, edges) with concat edges as op ``"concat"``; the DARTS output gets the next free id."""
    _check_cell(genotype, cell)
    edges = list(genotype.edges(cell))
    n_in = genotype.n_inputs
    last = max([n_in - 1] + [d for _, d, _ in edges] + list(genotype.concat(cell)))
    if _output_is_last_node(genotype):
        return list(range(last + 1)), last, edges
    out = last + 1
    concat = [(int(n), out, "concat") for n in genotype.concat(cell)]
    return list(range(out + 1)), out, edges + concat


def layout(genotype: AnyGenotype, cell: str) -> dict[Node, Pos]:
    """Longest-path layers over kept edges (inputs left, output alone on the right); barycentre order in a layer."""
    nodes, out, edges = cell_graph(genotype, cell)
    n_in = genotype.n_inputs
    kept = [(s, d) for s, d, op in edges if op != "none"]
    layer: dict[Node, int] = {}
    for n in nodes:
        srcs = [s for s, d in kept if d == n]
        layer[n] = 0 if n < n_in else 1 + max((layer[s] for s in srcs), default=0)
    layer[out] = 1 + max(layer[n] for n in nodes if n != out)

    widest = max(sum(1 for n in nodes if layer[n] == lv) for lv in set(layer.values()))
    dx = DX + 0.4 * max(0, widest - 2)  # tall layers make steep, crowded fans: give them room to spread
    pos: dict[Node, Pos] = {}
    for lv in range(max(layer.values()) + 1):
        members = [n for n in nodes if layer[n] == lv]

        def bary(n: Node) -> tuple[float, Node]:
            ys = [pos[s][1] for s, d in kept if d == n and s in pos]
            return (-float(np.mean(ys)) if ys else 0.0, n)

        if lv > 0:
            members.sort(key=bary)
        for k, n in enumerate(members):
            pos[n] = (lv * dx, ((len(members) - 1) / 2 - k) * DY)
    return pos


# --- geometry ------------------------------------------------------------------------------------------------------
def _arc3(p0: Pos, p2: Pos, rad: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, control point and end of matplotlib's ``arc3`` curve, a quadratic Bézier (valid in data units because
    the Axes has equal aspect)."""
    a, b = np.asarray(p0, float), np.asarray(p2, float)
    d = b - a
    return a, (a + b) / 2 + rad * np.array([d[1], -d[0]]), b


def _quadratic(a: np.ndarray, c: np.ndarray, b: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Points of the quadratic Bézier curve ``a, c, b`` at the parameters ``ts``."""
    ts = ts[:, None]
    return (1 - ts) ** 2 * a + 2 * (1 - ts) * ts * c + ts**2 * b


def _bezier(p0: Pos, p2: Pos, rad: float, ts: np.ndarray) -> np.ndarray:
    """Points of the ``arc3`` curve at the parameters ``ts``."""
    return _quadratic(*_arc3(p0, p2, rad), ts)


def _arc_path(p0: Pos, p2: Pos, rad: float, r0: float, r2: float) -> MplPath:
    """The ``arc3`` curve from ``p0`` to ``p2`` cut where it leaves the circle of radius ``r0`` around ``p0`` and
    enters the one of radius ``r2`` around ``p2``: what clipping by ``patchA`` / ``patchB`` draws, computed once in
    data units instead of by bisecting the curve in display space at every draw (most of a picture's drawing time)."""
    a, c, b = _arc3(p0, p2, rad)

    def point(t: float) -> np.ndarray:
        return _quadratic(a, c, b, np.array([t]))[0]

    def crossing(center: np.ndarray, r: float, inside_first: bool) -> float:
        lo, hi = 0.0, 1.0  # lo stays on the curve's starting side of the circle, hi on the other
        for _ in range(30):
            mid = (lo + hi) / 2
            if (np.hypot(*(point(mid) - center)) < r) == inside_first:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    t0, t1 = crossing(a, r0, True), crossing(b, r2, False)
    # the same parabola between t0 and t1: its ends and the blossom of (t0, t1) as the control point
    control = (1 - t0) * (1 - t1) * a + ((1 - t0) * t1 + t0 * (1 - t1)) * c + t0 * t1 * b
    return MplPath([point(t0), control, point(t1)], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])


def _route(pos: dict[Node, Pos], edges: list[tuple[Node, Node, str]]) -> list[float]:
    """Per-edge ``arc3`` rad: straight unless the line would cross a node or run along an already routed edge."""
    ts = np.linspace(0.0, 1.0, 41)
    centers = {n: np.asarray(p) for n, p in pos.items()}
    routed: list[np.ndarray] = []
    rads = [0.0] * len(edges)
    # short edges first (they can stay straight), dropped ``none`` edges last (they take what room is left)
    order = sorted(range(len(edges)),
                   key=lambda e: (edges[e][2] == "none", abs(pos[edges[e][1]][0] - pos[edges[e][0]][0]), e))
    for e in order:
        s, d, _ = edges[e]
        best, best_cost = 0.0, np.inf
        length = float(np.hypot(pos[d][0] - pos[s][0], pos[d][1] - pos[s][1]))
        for bulge in BULGES:
            rad = 2.0 * bulge / length  # arc3's apex sits rad * length / 2 off the chord
            pts = _bezier(pos[s], pos[d], rad, ts)
            step = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).mean())
            free = np.ones(len(pts), bool)
            cost = 1.0 * abs(bulge)
            for n, c in centers.items():
                dist = np.linalg.norm(pts - c, axis=1)
                if n in (s, d):
                    free &= dist > 1.4 * R
                else:
                    cost += 100.0 * float((dist < 1.5 * R).any())
                    free &= dist > 1.4 * R
            for other in routed:
                gap = np.linalg.norm(pts[free][:, None, :] - other[None, :, :], axis=2).min(axis=1, initial=np.inf)
                near = float((gap < 0.3).sum()) * step  # curve length near the other curve
                cost += 3.0 * max(0.0, near - 1.2)  # a crossing steeper than ~30 degrees is fine, running along is not
            if cost < best_cost:
                best, best_cost = rad, cost
        rads[e] = best
        routed.append(_bezier(pos[s], pos[d], best, ts))
    return rads


def _box(center: np.ndarray, angle: float, w: float, h: float) -> np.ndarray:
    """Corners (4, 2) of a w x h rectangle centred at ``center`` and turned by ``angle`` radians."""
    u = np.array([np.cos(angle), np.sin(angle)]) * w / 2
    v = np.array([-np.sin(angle), np.cos(angle)]) * h / 2
    return np.array([center - u - v, center + u - v, center + u + v, center - u + v])


def boxes_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex quadrilaterals given as (4, 2) corners."""
    for poly in (a, b):
        for k in range(4):
            edge = poly[(k + 1) % 4] - poly[k]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return False
    return True


def _in_box(pts: np.ndarray, center: np.ndarray, angle: float, w: float, h: float) -> np.ndarray:
    rel = pts - center
    c, s = np.cos(angle), np.sin(angle)
    x, y = rel @ np.array([c, s]), rel @ np.array([-s, c])
    return (np.abs(x) < w / 2) & (np.abs(y) < h / 2)


def _place_labels(ax: Axes, labels: list[Text], curves: list[tuple[Pos, Pos, float]],
                  pos: dict[Node, Pos]) -> list[np.ndarray]:
    """Greedy: each label runs along its edge, slid to the spot touching no label, no node and few other edges.

    Returns each label's box (display corners) so callers can check the result.
    """
    ax.apply_aspect()
    renderer = ax.figure.canvas.get_renderer()
    to_disp = ax.transData.transform
    pad = 2.0
    radius = float(np.linalg.norm(to_disp([1.5 * R, 0.0]) - to_disp([0.0, 0.0])))  # circle plus arrowhead
    centers = [to_disp(c) for c in pos.values()]
    ts = np.linspace(0.05, 0.95, 31)
    edge_pts = [to_disp(_bezier(a, b, rad, ts)) for a, b, rad in curves]
    (fx0, fy0), (fx1, fy1) = ax.get_window_extent(renderer).get_points()
    placed: list[np.ndarray] = []
    for k, (text, (a, b, rad)) in enumerate(zip(labels, curves)):
        text.set_rotation(0.0)
        ext = text.get_window_extent(renderer)
        w, h = ext.width + 2 * pad, ext.height + 2 * pad
        best: tuple[float, np.ndarray, float, np.ndarray] | None = None
        for t in LABEL_TS:
            p, q = to_disp(_bezier(a, b, rad, np.array([t - 0.01, t + 0.01])))
            angle = float(np.arctan2(q[1] - p[1], q[0] - p[0]))
            if angle > np.pi / 2:  # keep text upright
                angle -= np.pi
            elif angle <= -np.pi / 2:
                angle += np.pi
            center = to_disp(_bezier(a, b, rad, np.array([t]))[0])
            box = _box(center, angle, w, h)
            cost = 1000.0 * sum(boxes_overlap(_box(center, angle, w + 16, h + 6), o) for o in placed)
            for c in centers:
                rel = c - center
                local = np.array([rel @ [np.cos(angle), np.sin(angle)], rel @ [-np.sin(angle), np.cos(angle)]])
                nearest = np.clip(local, [-w / 2, -h / 2], [w / 2, h / 2])
                cost += 1000.0 * float(np.linalg.norm(local - nearest) < radius)
            for j, pts in enumerate(edge_pts):
                if j != k:
                    cost += 5.0 * float(_in_box(pts, center, angle, w, h).sum())
            if box[:, 0].min() < fx0 or box[:, 0].max() > fx1 or box[:, 1].min() < fy0 or box[:, 1].max() > fy1:
                cost += 1000.0
            cost += 10.0 * abs(t - 0.5)
            if best is None or cost < best[0]:
                best = (cost, ax.transData.inverted().transform(center), angle, box)
        assert best is not None
        text.set_position(best[1])
        text.set_rotation(np.degrees(best[2]))
        placed.append(best[3])
    return placed


# --- drawing -------------------------------------------------------------------------------------------------------
def _node_label(genotype: AnyGenotype, node: Node, out: Node) -> str:
    if _output_is_last_node(genotype):
        return "in" if node == 0 else ("out" if node == out else str(node))
    if node < genotype.n_inputs:
        return rf"$c_{{k-{genotype.n_inputs - node}}}$"
    return r"$c_{k}$" if node == out else str(node)


@dataclass(frozen=True)
class CellPlan:
    """Where everything goes: node positions, drawn edges with their curvature, and the bounding box of it all."""

    nodes: list[Node]
    out: Node
    pos: dict[Node, Pos]
    edges: list[tuple[Node, Node, str]]
    rads: list[float]
    extent: tuple[float, float, float, float]  # x0, x1, y0, y1

    @property
    def size(self) -> tuple[float, float]:
        x0, x1, y0, y1 = self.extent
        return x1 - x0, y1 - y0


def plan_cell(genotype: AnyGenotype, cell: str, show_none: bool = True) -> CellPlan:
    nodes, out, edges = cell_graph(genotype, cell)
    pos = layout(genotype, cell)
    drawable = [e for e in edges if show_none or e[2] != "none"]
    rads = _route(pos, drawable)
    pts = [np.asarray(list(pos.values()), float)]
    pts += [_bezier(pos[s], pos[d], rad, np.linspace(0, 1, 21)) for (s, d, _), rad in zip(drawable, rads)]
    allp = np.concatenate(pts)
    mx, my = R + 0.45, R + 0.3  # room for node circles and for labels sitting on the outermost curves
    ext = (allp[:, 0].min() - mx, allp[:, 0].max() + mx, allp[:, 1].min() - my, allp[:, 1].max() + my)
    return CellPlan(nodes, out, pos, drawable, rads, ext)


def legend_handles(classes: set[str]) -> list[Line2D]:
    order = [c for c in CLASS_COLORS if c in classes]
    return [
        Line2D([], [], color=CLASS_COLORS[c], lw=2, ls="--" if c == "none" else "-", label=CLASS_LEGEND[c])
        for c in order
    ]


def draw_cell_on(ax: Axes, genotype: AnyGenotype, cell: str, *, title: str | None = None, legend: bool = True,
                 show_none: bool = True, fontsize: float = 7.5) -> DrawnCell:
    """Draw one cell onto ``ax``; returns the artists so callers can count them against the genotype."""
    plan = plan_cell(genotype, cell, show_none)
    nodes, out, pos = plan.nodes, plan.out, plan.pos
    drawn = DrawnCell(positions=pos)
    ax.set_aspect("equal")
    ax.set_axis_off()
    x0, x1, y0, y1 = plan.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)

    for n in nodes:
        kind = "input" if n < genotype.n_inputs else ("output" if n == out else "inner")
        ax.add_patch(Circle(pos[n], R, facecolor=NODE_COLORS[kind], edgecolor="#333333", lw=1.2, zorder=3))
        ax.text(*pos[n], _node_label(genotype, n, out), ha="center", va="center", fontsize=fontsize + 2, zorder=4)

    curves: list[tuple[Pos, Pos, float]] = []
    for (s, d, op), rad in zip(plan.edges, plan.rads):
        cls = "concat" if op == "concat" else op_class(genotype, op)
        drawn.classes.add(cls)
        dashed = cls == "none"
        arrow = FancyArrowPatch(
            path=_arc_path(pos[s], pos[d], rad, R + GAP, R + GAP),
            arrowstyle="-" if dashed else "-|>", mutation_scale=11,
            color=CLASS_COLORS[cls], lw=0.9 if dashed else 1.5, ls="--" if dashed else "-",
            alpha=0.7 if dashed else 1.0, zorder=1 if dashed else 2,
        )
        ax.add_patch(arrow)
        if dashed:
            drawn.dropped.append(arrow)
            continue
        drawn.arrows.append(arrow)
        drawn.edges.append((s, d, op))
        if cls != "concat":
            text = ax.text(0, 0, op, ha="center", va="center", rotation_mode="anchor", fontsize=fontsize,
                           color=CLASS_COLORS[cls], zorder=5,
                           bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
            drawn.labels.append(text)
            curves.append((pos[s], pos[d], rad))
    drawn.label_boxes = _place_labels(ax, drawn.labels, curves, pos)

    if title:
        ax.set_title(title, fontsize=fontsize + 3)
    if legend:
        handles = legend_handles(drawn.classes)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles),
                  frameon=False, fontsize=fontsize + 0.5, handlelength=1.8, columnspacing=1.2)
    return drawn


# --- files ---------------------------------------------------------------------------------------------------------
def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, no global state, safe in threads and headless runs."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write a PNG atomically: a reader never sees a half-written file, a crash leaves no partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a picture is meant to be shared like any other output
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def draw_cell(genotype: AnyGenotype, cell: str, path: str | Path, *, title: str | None = None) -> Path:
    """Draw one cell to a PNG; ``title=None`` titles it by the cell's name, ``""`` leaves it untitled."""
    _check_cell(genotype, cell)
    w, h = plan_cell(genotype, cell).size
    fig = new_figure(w * INCH_PER_UNIT, h * INCH_PER_UNIT + 0.8)
    ax = fig.add_axes((0.0, 0.4 / fig.get_figheight(), 1.0, h * INCH_PER_UNIT / fig.get_figheight()))
    default = "cell" if cell == "cell" else f"{cell} cell"
    draw_cell_on(ax, genotype, cell, title=default if title is None else title)
    return save_figure(fig, path)


def draw_genotype(genotype: AnyGenotype, out_dir: str | Path, prefix: str = "cell") -> list[Path]:
    """Every cell type of the genotype, as ``{prefix}_{cell}.png`` in ``out_dir``."""
    return [draw_cell(genotype, c, Path(out_dir) / f"{prefix}_{c}.png") for c in genotype.cell_types]
