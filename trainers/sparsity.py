"""Row views of weight tensors and the GrOWL sparsity objective L0.

A *row* is one input neuron's group of weights (docs/metrics.md#rows, the
paper's reading): for a linear layer (out x in) the column of input i, i.e. a row of the
transpose; for a convolution (out, in, kh, kw) the weights reading input channel i, i.e.
the tensor permuted to (in, out, kh, kw) and flattened per channel. (The authors' code
reinterprets conv memory without permuting; the paper wins, see docs/metrics.md#conv-rows.)
"""
from __future__ import annotations

from typing import Iterable

import torch


def row_view(weight: torch.Tensor) -> torch.Tensor:
    """(n_rows, row_length) matrix whose rows are the input-neuron groups of ``weight``."""
    if weight.ndim < 2:
        raise ValueError("row_view needs a tensor with >= 2 dimensions")
    return weight.transpose(0, 1).reshape(weight.shape[1], -1)


def rows_to_weight(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`row_view`: the (out, in, ...) tensor whose rows are ``rows``."""
    out, n_in, *rest = shape
    return rows.reshape(n_in, out, *rest).transpose(0, 1)


def growl_weights(n: int, beta1: float, beta2: float, device=None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """The paper's "spike" OWL weights: theta_1 = beta1 + beta2, theta_i = beta2 (i >= 2),
    in ``dtype`` (the weights'; default float32)."""
    theta = torch.full((n,), beta2, device=device, dtype=dtype)
    theta[0] = beta1 + beta2
    return theta


def growl_layer(weight: torch.Tensor, beta1: float, beta2: float) -> torch.Tensor:
    """GrOWL value of one layer: sum_i theta_i * ||row||_[i], norms sorted descending."""
    norms = row_view(weight).norm(dim=1)
    ordered, _ = torch.sort(norms, descending=True)
    return (growl_weights(len(ordered), beta1, beta2, norms.device, norms.dtype) * ordered).sum()


def growl_value(weights: Iterable[torch.Tensor], beta1: float = 0.8, beta2: float = 0.2,
                device: torch.device | str | None = None) -> torch.Tensor:
    """L0 = sum over eligible layers of the GrOWL value; differentiable in the weights.
    No eligible layer: 0 on ``device`` (where the task losses it is stacked with are)."""
    total = None
    for weight in weights:
        value = growl_layer(weight, beta1, beta2)
        total = value if total is None else total + value
    if total is None:
        return torch.zeros((), device=device)
    return total
