"""Sparsity and sharing metrics: SR, CR, PS over rows, and their scalar counterparts.

Row-based (the paper's numbers; docs/metrics.md#sr-cr-ps), over every weight tensor
with >= 2 dimensions (heads and input layers included, biases/BN/alpha/t excluded):

- ``sr`` = zero rows / total rows (a fraction in [0, 1]; the paper prints percent)
- ``cr`` = total rows / unique rows (rows compared by exact equality within a layer, so a
  layer's zero rows collapse into one unique row)
- ``ps`` = non-zero rows / unique rows = cr * (1 - sr)

Scalar-weight counterparts, for readers who count parameters, not neurons:

- ``sr_scalar`` = zero weights / total weights
- ``cr_scalar`` = total weights / stored weights, where stored weights are the scalars of
  the unique non-zero rows (what a tied, pruned layer needs to keep)
- ``ps_scalar`` = non-zero weights / stored weights
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from trainers.sparsity import row_view


@dataclass
class RowCounts:
    rows_total: int = 0
    rows_zero: int = 0
    rows_unique: int = 0
    weights_total: int = 0
    weights_zero: int = 0
    weights_unique: int = 0

    def add_layer(self, weight: torch.Tensor) -> None:
        rows = row_view(weight.detach())
        zero = ~rows.any(dim=1)
        unique = torch.unique(rows, dim=0)
        unique_nonzero = int(unique.any(dim=1).sum())
        self.rows_total += rows.shape[0]
        self.rows_zero += int(zero.sum())
        self.rows_unique += unique.shape[0]
        self.weights_total += rows.numel()
        self.weights_zero += int((rows == 0).sum())
        self.weights_unique += unique_nonzero * rows.shape[1]


def ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def weight_tensors(model: nn.Module):
    """Every weight of >= 2 dims; uses ``all_weights`` when the model defines it."""
    if hasattr(model, "all_weights"):
        return [w for _, w in model.all_weights()]
    return [p for p in model.parameters() if p.ndim >= 2]


def sparsity_metrics(model: nn.Module) -> dict[str, float]:
    """SR, CR, PS (rows) and scalar counterparts, plus the raw counts behind them."""
    counts = RowCounts()
    for weight in weight_tensors(model):
        counts.add_layer(weight)
    nonzero_rows = counts.rows_total - counts.rows_zero
    nonzero_weights = counts.weights_total - counts.weights_zero
    return {
        "sr": ratio(counts.rows_zero, counts.rows_total),
        "cr": ratio(counts.rows_total, counts.rows_unique),
        "ps": ratio(nonzero_rows, counts.rows_unique),
        "sr_scalar": ratio(counts.weights_zero, counts.weights_total),
        "cr_scalar": ratio(counts.weights_total, counts.weights_unique),
        "ps_scalar": ratio(nonzero_weights, counts.weights_unique),
        **asdict(counts),
    }


def count_parameters(model: nn.Module) -> int:
    """Trainable scalar parameters (what the papers' parameter tables count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
