"""LSUV initialisation, layer-sequential unit variance (Mishkin & Matas (2016);
docs/methods/wc_al.md#lsuv-initialisation).

1. Orthonormal pre-initialisation of every conv and linear weight: a Gaussian
   (out x fan_in) matrix, its SVD, and the singular-vector factor of that shape
   (orthonormal rows when out <= fan_in, else orthonormal columns); biases to 0.
2. In module registration order, forward one training batch (eval mode, so BatchNorm
   uses its initial statistics), measure the standard deviation of the layer's raw output
   and divide the weight by it, until |std - 1| <= tol or ``max_attempts`` tries.

Seeded: the Gaussian draws use ``generator`` (the trial's), so a trial stays a function of
its config. The authors' port rescales the *first* layer on repeated attempts (a counter
that is not reset, docs/methods/wc_al.md#lsuv-initialisation); here every attempt rescales
the layer being measured.
"""
from __future__ import annotations

import torch
from torch import nn

LAYER_TYPES = (nn.Conv2d, nn.Linear)


@torch.no_grad()
def orthonormal_(weight: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """Fill ``weight`` (out, ...) with an orthonormal (out x fan_in) matrix."""
    out = weight.shape[0]
    flat = torch.randn(out, weight[0].numel(), generator=generator, dtype=torch.float64)
    u, _, vh = torch.linalg.svd(flat, full_matrices=False)
    q = u if u.shape == flat.shape else vh
    weight.copy_(q.reshape(weight.shape).to(weight.dtype))


def output_std(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> float | None:
    """Standard deviation of ``layer``'s output when ``model`` runs on ``x``; None for a
    layer the forward pass does not use (e.g. KDMTL's adaptors)."""
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        model(x)
    finally:
        handle.remove()
    return float(captured[0].float().std()) if captured else None


@torch.no_grad()
def lsuv_(model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None,
          target_std: float = 1.0, tol: float = 0.1, max_attempts: int = 10) -> dict[str, float]:
    """Initialise ``model`` in place on batch ``x``; returns each layer's final output std."""
    was_training = model.training
    model.eval()
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, LAYER_TYPES)]
    for _, layer in layers:
        orthonormal_(layer.weight, generator)
        if layer.bias is not None:
            layer.bias.zero_()
    stds: dict[str, float] = {}
    for name, layer in layers:
        std = output_std(model, layer, x)
        if std is None:
            continue
        for _ in range(max_attempts):
            if abs(std - target_std) <= tol:
                break
            layer.weight.mul_(target_std / (std + 1e-8))
            std = output_std(model, layer, x)
        stds[name] = std
    model.train(was_training)
    return stds
