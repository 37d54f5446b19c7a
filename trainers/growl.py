"""The GrOWL proximal step, the per-layer sparsity cap, and pruned rows held at zero.

GrOWL (group OWL) of a layer is Omega(W) = sum_i theta_i ||w||_[i], the row norms sorted
in decreasing order and weighted by non-increasing theta (the paper's "spike": theta_1 =
beta1 + beta2, theta_i = beta2; docs/methods/wc_al.md#growl-sparsity-objective). Its
proximal operator with step tau is exact and cheap (Zeng & Figueiredo; Bogdan et al. for
the vector case):

1. r = the row norms; sort them in decreasing order;
2. z = r_sorted - tau * theta;
3. project z onto the monotone non-increasing cone (pool adjacent violators: isotonic
   regression) and clip at 0 — that is the OWL prox of r;
4. un-sort, and rescale every row w_i by new_norm_i / r_i (rows whose new norm is 0
   become exact zeros).

With the spike weights this soft-thresholds every row norm by tau * beta2 and the largest
by tau * (beta1 + beta2), except that rows whose shrunk norms would change order are pooled
to a common norm. The authors' code uses an approximate pooling that zeroes the largest row
of a layer whose largest norm is <= 1 (docs/methods/wc_al.md#growl-proximal-step); the
exact operator here never does.

The cap (docs/methods/wc_al.md#per-layer-cap): after the prox, a layer may have at most
floor(cap * n_rows) zero rows. If it has more, the rows with the smallest pre-prox norms
stay pruned and the others get their pre-prox values back (the paper's rule; the code picks
the restored rows at random).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from trainers.sparsity import growl_weights, row_view, rows_to_weight


def owl_prox(values: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """prox of the OWL norm sum_i w_i |v|_[i] at ``values``; ``thresholds`` = tau * w,
    non-increasing and non-negative. Exact: sort, subtract, PAV, clip, un-sort."""
    magnitude = values.abs()
    order = torch.argsort(magnitude, descending=True, stable=True)
    shifted = (magnitude[order] - thresholds).detach().cpu().double().numpy()
    from sklearn.isotonic import isotonic_regression  # lazy: sklearn costs 0.5 s to import

    fitted = isotonic_regression(shifted, increasing=False) if len(shifted) > 1 else shifted
    fitted = torch.from_numpy(np.maximum(fitted, 0.0)).to(values)
    result = torch.empty_like(values)
    result[order] = fitted
    return result * torch.sign(values)


def growl_thresholds(n_rows: int, tau: float, beta1: float, beta2: float,
                     device=None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """tau * theta with the spike weights (theta_1 = beta1 + beta2, theta_i = beta2)."""
    return tau * growl_weights(n_rows, beta1, beta2, device=device, dtype=dtype)


def growl_prox_rows(rows: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """The GrOWL prox of a row matrix: OWL prox on the row norms, then row rescaling."""
    norms = rows.norm(dim=1)
    new_norms = owl_prox(norms, thresholds)
    keep = new_norms > 0
    scale = torch.where(keep, new_norms / torch.where(keep, norms, torch.ones_like(norms)),
                        torch.zeros_like(norms))
    return torch.where(keep[:, None], rows * scale[:, None], torch.zeros_like(rows))


def max_zero_rows(n_rows: int, cap: float) -> int:
    """floor(cap * n_rows), robust to float noise (0.3 * 10 is 3, not 2)."""
    return int(math.floor(cap * n_rows + 1e-9))


def apply_cap(new_rows: torch.Tensor, old_rows: torch.Tensor, cap: float) -> torch.Tensor:
    """At most floor(cap * n) zero rows: keep the smallest pre-prox norms pruned, restore
    the rest of the zeroed rows to their pre-prox values."""
    zero = ~new_rows.any(dim=1)
    allowed = max_zero_rows(new_rows.shape[0], cap)
    if int(zero.sum()) <= allowed:
        return new_rows
    candidates = torch.nonzero(zero).squeeze(1)
    old_norms = old_rows[candidates].norm(dim=1)
    by_norm = candidates[torch.argsort(old_norms, stable=True)]
    restore = by_norm[allowed:]
    capped = new_rows.clone()
    capped[restore] = old_rows[restore]
    return capped


@dataclass
class LayerProx:
    """What one prox step did to one layer."""

    rows: int
    zero_before: int
    zero_after: int


@torch.no_grad()
def growl_prox_(weight: torch.Tensor, tau: float, beta1: float, beta2: float,
                cap: float | None = None) -> LayerProx:
    """In place: the GrOWL prox of one layer's rows, then the cap (if given)."""
    old = row_view(weight)
    thresholds = growl_thresholds(old.shape[0], tau, beta1, beta2, device=old.device,
                                  dtype=old.dtype)
    new = growl_prox_rows(old, thresholds)
    if cap is not None:
        new = apply_cap(new, old, cap)
    zero_before = int((~old.any(dim=1)).sum())
    weight.copy_(rows_to_weight(new, weight.shape))
    return LayerProx(old.shape[0], zero_before, int((~new.any(dim=1)).sum()))


def row_mask_shape(weight: torch.Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a per-row (input neuron / channel) mask over ``weight``."""
    return (1, weight.shape[1]) + (1,) * (weight.ndim - 2)


class ZeroRows:
    """Rows held at exactly zero: pruned rows, re-zeroed after every optimiser step.

    A boolean mask broadcast over the layer costs one masked fill per eligible weight and
    step; the fill writes +0.0 (a product with 0 could leave -0.0 behind)."""

    def __init__(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        self.masks: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, weight in weights:
            zero = ~row_view(weight.detach()).any(dim=1)
            if zero.any():
                self.masks[name] = (weight, zero.reshape(row_mask_shape(weight)))

    @property
    def count(self) -> int:
        return sum(int(mask.sum()) for _, mask in self.masks.values())

    def indices(self, name: str) -> torch.Tensor:
        """Row indices held at zero in layer ``name`` (empty if none)."""
        if name not in self.masks:
            return torch.zeros(0, dtype=torch.long)
        return torch.nonzero(self.masks[name][1].flatten()).squeeze(1).cpu()

    @torch.no_grad()
    def hold(self) -> None:
        for weight, mask in self.masks.values():
            weight.masked_fill_(mask, 0.0)
