"""How exact is each Hessian-vector product in float32: every ``search.hvp`` against the float64 exact product.

The second-order step needs ``grad_alpha (grad_w L_train(w, alpha) . v)`` along the validation gradient ``v`` at the
unrolled weights. This script takes the searcher ``bench_vs_darts.py`` steps (DARTS' space, synthetic data), runs a
few search steps so the state is not the initial one, takes ``v`` as a real step does, and computes the product in
float32 by every method of ``search.hvp``; then it converts the same network, alphas, batch and ``v`` to float64
(exactly: every float32 is a float64) and takes the exact product there as the reference. The error of a float32
method is its distance to that reference: rounding for the exact methods (more where a ReLU input lies within
rounding of zero, so that the float32 and float64 passes take different linear pieces: the script counts those),
rounding plus truncation and the ReLU kinks a step of ``w +- r v`` crosses for DARTS' finite differences.

    python experiments/hvp_accuracy.py                          # make search's supernet (small), batch 64
    python experiments/hvp_accuracy.py --size cifar --batch 16  # DARTS' CIFAR search network
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_vs_darts as bvd  # noqa: E402

HVPS = ("exact", "exact_recompute", "double_backward", "jvp", "finite_difference")


def validation_direction(searcher, x_train, y_train, x_val, y_val) -> dict[str, torch.Tensor]:
    """``v``: the validation loss's gradient at the unrolled weights, the direction the second-order step takes."""
    architect = searcher.architect
    unrolled = {k: w.requires_grad_(True) for k, w in architect.unrolled_weights(x_train, y_train, bvd.LR).items()}
    out = torch.func.functional_call(searcher.net, unrolled, (x_val, searcher.arch.probs()))
    grads = torch.autograd.grad(F.cross_entropy(out, y_val), list(unrolled.values()))
    return {k: g.detach() for k, g in zip(unrolled, grads)}


class _ReluSigns(TorchFunctionMode):
    """Records the sign pattern of every ReLU input of the passes run inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.signs: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        if func in (F.relu, torch.relu, torch.relu_, torch.Tensor.relu):
            self.signs.append(args[0].detach() > 0)
        return func(*args, **(kwargs or {}))


def finite_difference_points(searcher, v: dict[str, torch.Tensor], step: float) -> tuple[torch.Tensor, list[dict]]:
    """``r = step / ||v||`` and the weights at DARTS' two finite-difference points ``w + r v`` and ``w - r v``."""
    r = step / torch.linalg.vector_norm(torch.stack([t.norm() for t in v.values()]))
    weights = dict(searcher.net.named_parameters())
    return r, [{k: weights[k].detach() + sign * r * t for k, t in v.items()} for sign in (1.0, -1.0)]


def relu_signs(searcher, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> list[torch.Tensor]:
    """The sign pattern of every ReLU input of the network's forward pass on ``x`` (with ``weights`` substituted)."""
    with torch.no_grad(), _ReluSigns() as signs:
        torch.func.functional_call(searcher.net, weights or {}, (x, searcher.arch.probs()))
    return signs.signs


def _sign_differences(a: list[torch.Tensor], b: list[torch.Tensor]) -> int:
    return sum(int((p != q).sum()) for p, q in zip(a, b))


def relu_sign_changes(searcher, x: torch.Tensor, v: dict[str, torch.Tensor], step: float = 0.01) -> tuple[int, int]:
    """ReLU inputs whose sign differs between the networks at DARTS' two finite-difference points, and how many there
    are: each is a kink the difference of gradients jumps across."""
    _, (plus, minus) = finite_difference_points(searcher, v, step)
    at_plus = relu_signs(searcher, x, plus)
    return _sign_differences(at_plus, relu_signs(searcher, x, minus)), sum(t.numel() for t in at_plus)


def finite_difference(searcher, x: torch.Tensor, y: torch.Tensor, v: dict[str, torch.Tensor], step: float
                      ) -> torch.Tensor:
    """DARTS' central difference of the alpha gradient along ``v`` with ``r = step / ||v||``, written out here (the
    searcher's own uses ``step = 0.01``), flattened as ``_flat`` orders the cells."""
    r, points = finite_difference_points(searcher, v, step)
    alphas = searcher.arch.as_dict()
    grads = []
    for moved in points:
        out = torch.func.functional_call(searcher.net, moved, (x, searcher.arch.probs()))
        grads.append(torch.autograd.grad(F.cross_entropy(out, y), [alphas[k] for k in sorted(alphas)]))
    return torch.cat([((p - m) / (2 * r)).double().flatten() for p, m in zip(*grads)])


def _flat(product: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([product[k].double().flatten() for k in sorted(product)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=tuple(bvd.SIZES), default="small")
    ap.add_argument("--batch", type=int, default=None, help="default: 64 (small), 16 (cifar)")
    ap.add_argument("--steps", type=int, default=2, help="search steps before the product is taken")
    ap.add_argument("--modes", default=",".join(HVPS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fd-steps", default="", help="also DARTS' finite differences in float64 at these r * ||v|| "
                    "(comma-separated; the searcher's is 0.01)")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in HVPS]
    if unknown or not modes:
        ap.error(f"--modes {args.modes}: choose from {', '.join(HVPS)}")
    try:
        fd_steps = [float(t) for t in args.fd_steps.split(",") if t]
    except ValueError:
        ap.error(f"--fd-steps {args.fd_steps}: comma-separated positive numbers, e.g. 0.1,0.01,0.001")
    if any(t <= 0 for t in fd_steps):
        ap.error(f"--fd-steps {args.fd_steps}: comma-separated positive numbers, e.g. 0.1,0.01,0.001")
    batch = args.batch or (64 if args.size == "small" else 16)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    searcher, (xw, yw, xa, ya) = bvd.ours_searcher("second_exact", batch, torch.device("cpu"), channels_last=True,
                                                    size=args.size)
    for _ in range(args.steps):
        searcher.step(xw, yw, xa, ya, lr=bvd.LR)
    architect = searcher.architect
    v = validation_direction(searcher, xw, yw, xa, ya)
    got = {}
    for mode in modes:
        architect.hvp = mode
        start = time.perf_counter()
        got[mode] = (_flat(architect.mixed_hvp(xw, yw, v)), 1000 * (time.perf_counter() - start))

    changed, relu_inputs = relu_sign_changes(searcher, xw, v)
    signs32 = relu_signs(searcher, xw)

    searcher.net.double()
    searcher.arch.double()
    flipped = _sign_differences(signs32, relu_signs(searcher, xw.double()))
    architect.hvp = "exact"
    v64 = {k: t.double() for k, t in v.items()}
    reference = _flat(architect.mixed_hvp(xw.double(), yw, v64))

    channels, cells, side = bvd.SIZES[args.size]
    print(f"float32 Hessian-vector products against the float64 exact one ({args.size}: {channels} ch, {cells} cells, "
          f"{side} px; batch {batch}, {args.steps} search steps in, {args.threads} thread(s))\n")
    print("| search.hvp | relative error | largest entry error / largest entry | ms |")
    print("|---|---:|---:|---:|")
    scale = reference.abs().max()
    for mode, (product, ms) in got.items():
        err = product - reference
        print(f"| {mode} | {(err.norm() / reference.norm()).item():.1e} | {(err.abs().max() / scale).item():.1e} "
              f"| {ms:.0f} |")
    print(f"\nReLU inputs of the training batch whose sign differs between the float32 and the float64 pass: {flipped} "
          f"of {relu_inputs} (each puts the two on different linear pieces, whose products differ by more than rounding)")
    print(f"ReLU inputs of the training batch whose sign differs between DARTS' finite-difference points w +- r v "
          f"(r = 0.01 / ||v||): {changed} of {relu_inputs}")
    if fd_steps:
        print("\n| finite differences in float64, r * ||v|| | relative error |\n|---|---:|")
        for step in fd_steps:
            err = finite_difference(searcher, xw.double(), yw, v64, step) - reference
            print(f"| {step:g} | {(err.norm() / reference.norm()).item():.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
