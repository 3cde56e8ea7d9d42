"""Which pictures a sweep report has, fed from the jobs' files to the ``viz`` plot functions.

The split is deliberate: ``viz`` draws any picture from plain data (lists, dicts, arrays) and knows nothing of sweeps;
this module decides what the report shows and reads it from the jobs. A plot without data is skipped with a note
rather than drawn empty, so the report says why a picture is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..spaces import AnyGenotype, GenotypeError, create_space, genotype_from_json, genotype_from_text
from ..viz import alpha_heatmap, plot_accuracy_vs_latency, plot_cells_grid, plot_curves
from .columns import finite
from .summary import Report
from .sweep import JobRecord, slug

Plots = dict[str, Path]


def job_genotype(job: JobRecord) -> AnyGenotype | None:
    """The found genotype, from its JSON form, else from its text form; None when neither parses."""
    data = job.metrics.get("genotype")
    if isinstance(data, dict):
        try:
            return genotype_from_json(data)
        except (GenotypeError, KeyError, TypeError, ValueError):
            pass
    text = job.metrics.get("genotype_text") or job.metrics.get("arch_str")
    if isinstance(text, str):
        try:
            return genotype_from_text(text)
        except (GenotypeError, KeyError, TypeError, ValueError, SyntaxError):
            pass
    return None


def _seed_label(job: JobRecord) -> str:
    return f"seed {job.seed}" if job.seed is not None else f"job {job.name}"


def accuracy_vs_latency(report: Report, out: Path, plots: Plots, notes: list[str]) -> None:
    timed = [j for j in report.jobs if finite(((j.eval or {}).get("latency_ms") or {}).get("batch_1")) is not None]
    if not timed:
        notes.append("accuracy vs latency: skipped, no job has eval/metrics.json with latency_ms.batch_1 "
                      "(run irlas-eval on the found genotypes)")
        return
    # one accuracy for all points: test accuracy when every timed job has it, else the supernet's
    key = "test_acc" if all(finite(j.eval.get("test_acc")) is not None for j in timed) else "val_acc"
    points = []
    for j in timed:
        acc = finite(j.eval.get("test_acc") if key == "test_acc" else j.metrics.get("val_acc"))
        if acc is not None:
            points.append({"label": f"s{j.seed}" if j.seed is not None else j.name, "group": report.label_of(j),
                           "latency_ms": float(j.eval["latency_ms"]["batch_1"]), "acc": acc})
    if not points:
        notes.append("accuracy vs latency: skipped, the timed jobs have no accuracy")
        return
    ylabel = "test accuracy" if key == "test_acc" else "supernet val accuracy"
    plots["Accuracy vs latency"] = plot_accuracy_vs_latency(
        points, out / "accuracy_vs_latency.png", xlabel="latency, batch 1 (ms)", ylabel=ylabel,
        title=f"{ylabel} vs latency")


def distance_curves(report: Report, out: Path, plots: Plots, notes: list[str]) -> None:
    curves: dict[str, list[list[float]]] = {g.label: [] for g in report.groups}  # every group: stable colours
    start = None
    for g in report.groups:
        for j in g.jobs:
            values = [finite(row.get("distance_to_expert")) for row in j.history]
            if not any(v is not None for v in values):
                continue
            curves[g.label].append([math.nan if v is None else v for v in values])
            if start is None:
                start = finite(j.history[0].get("epoch"))
    if not any(curves.values()):
        notes.append("distance to expert per epoch: skipped, no history.csv has distance_to_expert values")
        return
    plots["Distance to the expert per epoch"] = plot_curves(
        curves, out / "distance_to_expert.png", ylabel="||mu(genotype) - mu_E||",
        title="distance to the expert per epoch (thin: seeds, bold: mean)", start=int(start or 1))


def cell_grids(report: Report, out: Path, plots: Plots, notes: list[str]) -> None:
    for g in report.groups:
        found = [(j, job_genotype(j)) for j in g.jobs]
        for j, geno in found:
            if geno is None:
                notes.append(f"cells: job {j.name} has no readable genotype in metrics.json; not drawn")
        drawn = [(f"{_seed_label(j)} (job {j.name})", geno) for j, geno in found if geno is not None]
        if not drawn:
            continue
        for cell in drawn[0][1].cell_types:
            same = [(t, geno) for t, geno in drawn if cell in geno.cell_types]
            plots[f"Cells: {g.label}, {cell}"] = plot_cells_grid(same, cell, out / f"cells_{slug(g.label)}_{cell}.png")


def _mean_softmax(jobs: list[JobRecord]) -> tuple[dict[str, np.ndarray], int] | None:
    sums: dict[str, np.ndarray] = {}
    n = 0
    for j in jobs:
        alphas = j.metrics.get("alphas")
        if not isinstance(alphas, dict) or not alphas:
            continue
        probs = {}
        for cell, logits in alphas.items():
            a = np.asarray(logits, dtype=float)
            e = np.exp(a - a.max(axis=-1, keepdims=True))
            probs[cell] = e / e.sum(axis=-1, keepdims=True)
        if sums and (probs.keys() != sums.keys() or any(p.shape != sums[c].shape for c, p in probs.items())):
            raise ValueError(f"job {j.name}: alphas differ in cells or shape from the group's other jobs")
        sums = {c: sums.get(c, 0.0) + p for c, p in probs.items()}
        n += 1
    return ({c: s / n for c, s in sums.items()}, n) if n else None


def alpha_heatmaps(report: Report, out: Path, plots: Plots, notes: list[str]) -> None:
    for g in report.groups:
        try:
            mean = _mean_softmax(g.jobs)
            if mean is None:
                continue
            probs, n = mean
            # alpha_heatmap takes logits: log p has softmax p, so the mean softmax goes through unchanged
            logits = {c: np.log(np.clip(p, 1e-12, None)) for c, p in probs.items()}
            plots[f"Mean softmax(alpha): {g.label}"] = alpha_heatmap(
                logits, create_space(g.key[0]), out / f"alphas_{slug(g.label)}.png",
                title=f"{g.label}: mean softmax(alpha) over {n} job(s)")
        except (KeyError, TypeError, ValueError) as err:
            notes.append(f"alpha heatmap of {g.label}: skipped ({err})")


def draw_plots(report: Report, out: Path) -> tuple[Plots, list[str]]:
    """Every picture of the report into ``out``: {title: PNG path}, and a note for each picture left out."""
    plots: Plots = {}
    notes: list[str] = []
    for draw in (accuracy_vs_latency, distance_curves, cell_grids, alpha_heatmaps):
        draw(report, out, plots, notes)
    return plots, notes
