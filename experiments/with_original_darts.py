"""The drop-in prior on the original DARTS code (quark0/darts, ``cnn/``): its own search step, plain and with the prior.

The original ``Network`` and ``Architect`` run unchanged but for the CPU shim of ``bench_vs_darts.py`` (``.cuda()``
becomes a move to the device). The prior enters the way README *Use the prior in your own DARTS code* shows: a term
of the architecture loss, ``prior.loss(model.alphas_normal, model.alphas_reduce)``, and ``prior.update(epoch, model)``
at each epoch's end. Here ``PriorArchitect`` adds the prior's alpha gradient right after the original's own backward
step (first order: ``_backward_step``; second order: ``_backward_step_unrolled``, finite-difference Hessian-vector
product and all); the prior depends on the alphas only, so this is the gradient of ``L_val + prior`` in both.

Per arm (first / second order x plain / prior) and epoch it prints the normal cell's parameter-free edges (skip and
pool edges of the genotype the original's own ``genotype()`` derives; collapsed at 5 of 8), the distance of that cell
to the expert, and the ratio of the prior's alpha-gradient norm to the validation loss's (normal cell, mean over the
epoch's steps; the plain arm measures what the prior would add). Data: CIFAR-shaped (3 x 32 x 32, 10 classes)
synthetic images (``irlas_darts.data`` ``synthetic``: a blocky template per class plus noise).

    python experiments/with_original_darts.py --darts-dir ~/darts/cnn                  # a few CPU minutes
    python experiments/with_original_darts.py --darts-dir ~/darts/cnn --orders first --epochs 10 --lam 0.1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "experiments"))

PARAM_FREE = {"skip_connect", "max_pool_3x3", "avg_pool_3x3"}
LR, LR_MIN, MOMENTUM, WEIGHT_DECAY, ARCH_LR, ARCH_WD, CLIP = 0.025, 0.001, 0.9, 3e-4, 3e-4, 1e-3, 5.0


def prior_architect(Architect: type, prior, add: bool) -> type:
    """The original ``Architect`` with the prior's alpha gradient added after its own backward step."""
    import torch

    class PriorArchitect(Architect):
        ratios: list[float] = []

        def _with_prior(self) -> None:
            alphas = [self.model.alphas_normal, self.model.alphas_reduce]
            val = alphas[0].grad.detach().clone()
            grads = torch.autograd.grad(prior.loss(*alphas), alphas, allow_unused=True)
            if grads[0] is not None:
                self.ratios.append(float(grads[0].norm() / val.norm().clamp_min(1e-12)))
            if add:
                for a, g in zip(alphas, grads):
                    if g is not None:
                        a.grad.add_(g)

        def _backward_step(self, input_valid, target_valid):
            super()._backward_step(input_valid, target_valid)
            self._with_prior()

        def _backward_step_unrolled(self, *args):
            super()._backward_step_unrolled(*args)
            self._with_prior()

    return PriorArchitect


def run_arm(Architect: type, Network: type, order: str, with_prior: bool, args: argparse.Namespace, data) -> list[dict]:
    """One search with the original code; returns a row per epoch."""
    import torch
    from torch import nn

    from irlas_darts.prior import Prior
    from irlas_darts.spaces import create_space
    from irlas_darts.topology import genotype_feature_expectation

    torch.manual_seed(args.seed)
    criterion = nn.CrossEntropyLoss()
    model = Network(args.channels, 10, args.layers, criterion)
    optimizer = torch.optim.SGD(model.parameters(), LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs, eta_min=LR_MIN)
    prior = Prior("darts", args.expert, lam=args.lam)
    hyper = types.SimpleNamespace(momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, arch_learning_rate=ARCH_LR,
                                  arch_weight_decay=ARCH_WD)
    architect = prior_architect(Architect, prior, with_prior)(model, hyper)
    space = create_space("darts")
    mu_expert = prior.regularizer.tracker.mu_expert
    x, y = data
    b = args.batch
    rows = []
    for epoch in range(args.epochs):
        lr = scheduler.get_last_lr()[0]
        architect.ratios = []
        start = time.perf_counter()
        for step in range(args.steps):
            k = (epoch * args.steps + step) % (len(y) // (2 * b))
            xw, yw = x[2 * k * b: (2 * k + 1) * b], y[2 * k * b: (2 * k + 1) * b]
            xa, ya = x[(2 * k + 1) * b: (2 * k + 2) * b], y[(2 * k + 1) * b: (2 * k + 2) * b]
            model.train()
            architect.step(xw, yw, xa, ya, lr, optimizer, unrolled=order == "second")
            optimizer.zero_grad()
            loss = criterion(model(xw), yw)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            optimizer.step()
        scheduler.step()
        logged = prior.update(epoch, model)
        original = model.genotype()  # the original's own derivation
        ours = prior.genotype(model)
        mu = genotype_feature_expectation(space, ours, "normal", prior.regularizer.gamma,
                                          positions=prior.regularizer.positions)
        rows.append({
            "epoch": epoch + 1,
            "param_free": sum(op in PARAM_FREE for op, _ in original.normal),
            "distance": float((mu - mu_expert).norm()),
            "ratio": statistics.fmean(architect.ratios) if architect.ratios else float("nan"),
            "margin": logged["margin"],
            "seconds": time.perf_counter() - start,
            "genotype": str(original.normal),
        })
        print(f"  {order:6s} {'prior' if with_prior else 'plain':5s} epoch {epoch + 1}: param-free "
              f"{rows[-1]['param_free']}/8, distance {rows[-1]['distance']:.2f}, |grad prior|/|grad L_val| "
              f"{rows[-1]['ratio']:.3g}, {rows[-1]['seconds']:.1f}s", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--darts-dir", required=True, help="the original code's cnn/ folder (quark0/darts)")
    p.add_argument("--orders", default="first,second")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps", type=int, default=4, help="search steps per epoch")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=4, help="the original Network's C (its default: 16)")
    p.add_argument("--layers", type=int, default=5, help="cells (the original's default: 8)")
    p.add_argument("--lam", type=float, default=0.01, help="the prior's lambda (README's table: 0.01; shipped: 0.03)")
    p.add_argument("--expert", default="resnext")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not (Path(args.darts_dir) / "model_search.py").is_file():
        p.error(f"--darts-dir={args.darts_dir} has no model_search.py; point it at the original code's cnn/ folder")
    orders = [o for o in args.orders.split(",") if o]
    if any(o not in ("first", "second") for o in orders):
        p.error(f"--orders={args.orders}: use first, second or both")

    import torch

    from bench_vs_darts import import_original
    from irlas_darts.data.synthetic import load_synthetic

    warnings.filterwarnings("ignore")  # the original code's deprecated add_/sub_ overloads and Variable
    torch.set_num_threads(args.threads)
    Architect, Network = import_original(args.darts_dir, torch.device("cpu"))
    n = 2 * args.batch * args.steps * args.epochs
    ds = load_synthetic(None, torch.device("cpu"), n_train=n, n_test=2, size=32, channels=3, seed=args.seed)
    data = (ds.train_x, ds.train_y)

    results = {}
    for order in orders:
        for with_prior in (False, True):
            results[(order, with_prior)] = run_arm(Architect, Network, order, with_prior, args, data)

    print(f"original DARTS search (C={args.channels}, {args.layers} cells, batch {args.batch}, {args.steps} steps x "
          f"{args.epochs} epochs, synthetic 3x32x32), prior: expert {args.expert}, lambda {args.lam}\n")
    print("| order | arm | param-free edges per epoch (normal cell, of 8) | distance to expert, last | "
          "\\|grad prior\\| / \\|grad L_val\\| (mean) | s / epoch |")
    print("|---|---|---|---|---|---|")
    for (order, with_prior), rows in results.items():
        print(f"| {order} | {'prior' if with_prior else 'plain'} | {' / '.join(str(r['param_free']) for r in rows)} | "
              f"{rows[-1]['distance']:.2f} | {statistics.fmean(r['ratio'] for r in rows):.3g} | "
              f"{statistics.fmean(r['seconds'] for r in rows):.1f} |")
    print()
    for (order, with_prior), rows in results.items():
        print(f"{order} {'prior' if with_prior else 'plain'}: normal cell {rows[-1]['genotype']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
