"""A dilated depthwise conv in the exact product's dual pass: oneDNN's dilated kernel against the pixel-phase form.

The first-order and finite-difference passes always run DARTS' dilated convs on pixel phases on the CPU (their own
autograd node, ``ops/lean.py``). The dual pass of ``search.hvp=exact`` runs plain ops, where the phase form costs
copies of both the input and its tangent; this table says where it still pays (the dual pass takes the phases for the
5x5 kernel only): one dual forward pass of the conv (weights dual, input requiring a gradient) and the backward pass of
its primal and tangent, median time per shape.

    python experiments/bench_dilated.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.autograd import forward_ad

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from irlas_darts.ops.forward_mode import forward_differentiable  # noqa: E402
from irlas_darts.ops.lean import _phase_conv, twice_differentiable  # noqa: E402

# (channels, image side) of DARTS' search networks: make search's (8 channels, 8x8 inputs) and the CIFAR one's
SHAPES = ((8, 8), (16, 4), (32, 2), (16, 32), (32, 16), (64, 8))


def dual_pass_us(batch: int, channels: int, side: int, k: int, phases: bool, repeats: int) -> float:
    """Median microseconds of one dual forward and backward of the dilation-2 ``k x k`` depthwise conv."""
    x = torch.randn(batch, channels, side, side).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    w, v = torch.randn(channels, 1, k, k), torch.randn(channels, 1, k, k)

    def once() -> None:
        with twice_differentiable(), forward_differentiable(), forward_ad.dual_level():
            dual_w = forward_ad.make_dual(w, v)
            y = _phase_conv(x, dual_w, k) if phases else F.conv2d(x, dual_w, padding=k - 1, dilation=2,
                                                                  groups=channels)
            primal, tangent = forward_ad.unpack_dual(y)
        (primal.square().sum() + tangent.sum()).backward()

    for _ in range(3):
        once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="16,64")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, median of {args.repeats}; ratio > 1: the phase form is faster\n")
    print("| batch | channels | image | kernel | dilated µs | phases µs | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch in (int(b) for b in args.batches.split(",")):
        for channels, side in SHAPES:
            for k in (3, 5):
                dilated = dual_pass_us(batch, channels, side, k, False, args.repeats)
                phases = dual_pass_us(batch, channels, side, k, True, args.repeats)
                print(f"| {batch} | {channels} | {side}×{side} | {k}×{k} | {dilated:.0f} | {phases:.0f} | "
                      f"{dilated / phases:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
