"""Cost of a network: parameters, multiply-adds and measured latency, in the conventions NAS papers report."""

from __future__ import annotations

import torch
from torch import nn

AUX_MARKER = "auxiliary"


def count_params(model: nn.Module) -> tuple[int, int]:
    """``(params_without_aux, params_aux)``: DARTS' ``count_parameters_in_MB`` convention, in units.

    Papers report the network without its auxiliary head (used only in training); every parameter whose name
    contains ``'auxiliary'`` counts as the head's.
    """
    main = aux = 0
    for name, p in model.named_parameters():
        if AUX_MARKER in name:
            aux += p.numel()
        else:
            main += p.numel()
    return main, aux


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _call(model: nn.Module, x: torch.Tensor) -> object:
    return model(x)


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds (MACs) of one eval-mode forward pass on one ``input_shape = (C, H, W)`` image.

    ``FlopCounterMode`` counts FLOPs = 2 x multiply-adds for convolutions and matmuls (linear layers) and ignores
    BatchNorm, activations, pooling and additions; halving it gives the "FLOPs" (really MACs) that NAS papers list
    (DARTS_V2 on CIFAR-10: 528M). The auxiliary head does not run in eval mode and so is never counted.
    """
    was_training = model.training
    model.eval()
    x = torch.zeros((1, *input_shape), device=_model_device(model))
    from torch.utils.flop_counter import FlopCounterMode  # imported here: a search process never counts FLOPs

    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            _call(model, x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    batch_sizes: tuple[int, ...] = (1, 64),
    device: str | torch.device | None = None,
    min_run_time: float = 0.3,
) -> dict[str, float]:
    """Median eval-mode forward time in milliseconds per batch size: ``{"batch_1": ms, "batch_64": ms}``.

    Measured with ``torch.utils.benchmark`` on ``device`` (default: where the model's parameters are; the model is
    moved there) with all of torch's CPU threads; the timer's block-size estimate doubles as the warm-up pass and
    it synchronizes CUDA work. ``min_run_time`` (seconds per batch size) bounds the measurement, but every batch
    size runs at least twice (estimate + one timed block), so a large network at batch 64 on CPU takes longer.
    """
    from torch.utils.benchmark import Timer  # imported here: it pulls in setuptools (0.3 s of every start)

    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.to(device).eval()
    out: dict[str, float] = {}
    try:
        with torch.no_grad():
            for n in batch_sizes:
                x = torch.randn((n, *input_shape), device=device)
                timer = Timer(stmt="call(model, x)", globals={"call": _call, "model": model, "x": x},
                              num_threads=torch.get_num_threads())
                out[f"batch_{n}"] = timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
    finally:
        model.train(was_training)
    return out
