"""Parameter sharing for phase 2: cluster each eligible layer's rows with Affinity
Propagation, then tie every cluster to its mean
(docs/methods/wc_al.md#affinity-propagation-tying).

Similarity of rows w_i, w_j: <w_i, w_j> / max(||w_i||^2, ||w_j||^2), in [-1, 1];
it is 1 only for identical rows, and small for rows that merely point the same way with
different lengths. Affinity Propagation (scikit-learn, precomputed affinities) puts the
per-data-set preference (0.7 MultiMNIST, 0.8 Cifar10Mnist) on the diagonal; a preference
near the maximum similarity keeps most rows as singletons and ties only near-duplicates.

Clustering runs over a layer's non-zero rows. Under the paper's similarity the zero rows
are perfectly similar to each other (0/0 := 1) and unrelated to the rest (0), i.e. they
form their own group, and phase 2 re-zeroes them anyway; leaving them out gives them the
same fate and keeps AP's n^2 messages to the rows that matter. A layer whose AP does not
converge is left untied (scikit-learn returns no clusters), as in the authors' code.

The tie step, at the end of every phase-2 epoch: zero rows back to zero, every row of a
cluster replaced by the cluster's arithmetic mean. Tied rows are then exactly equal, so
the metrics (trainers/metrics.py) count each cluster once.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch

from trainers.sparsity import row_view, rows_to_weight


def row_similarity(rows: np.ndarray) -> np.ndarray:
    """S(i, j) = <w_i, w_j> / max(||w_i||^2, ||w_j||^2); 1 for two zero rows."""
    gram = rows @ rows.T
    sq = np.diag(gram)
    denom = np.maximum(sq[:, None], sq[None, :])
    sim = np.divide(gram, denom, out=np.ones_like(gram), where=denom > 0)
    return sim


@dataclass
class LayerTying:
    """One layer's clustering: ``labels[i]`` is row i's cluster, -1 for untied rows."""

    zero: torch.Tensor      # indices of zero rows (held at zero in phase 2)
    labels: torch.Tensor    # (n_rows,) long
    converged: bool

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def summary(self) -> dict[str, Any]:
        sizes = torch.bincount(self.labels[self.labels >= 0]) if self.n_clusters else None
        tied = int(sizes[sizes > 1].sum()) if sizes is not None else 0
        return {"rows": len(self.labels), "zero": len(self.zero), "clusters": self.n_clusters,
                "tied_rows": tied, "converged": self.converged}


def affinity_labels(rows: np.ndarray, preference: float, seed: int) -> np.ndarray | None:
    """Affinity Propagation labels of ``rows``, or None where it did not converge."""
    from sklearn.cluster import AffinityPropagation  # lazy: sklearn costs 0.5 s to import
    from sklearn.exceptions import ConvergenceWarning

    ap = AffinityPropagation(affinity="precomputed", preference=preference, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = ap.fit(row_similarity(rows)).labels_
    return labels if (labels >= 0).all() else None


def cluster_rows(rows: torch.Tensor, preference: float, seed: int) -> LayerTying:
    """Cluster the non-zero rows of one layer (its row view)."""
    zero = ~rows.any(dim=1)
    nonzero = torch.nonzero(~zero).squeeze(1).cpu()
    labels = torch.full((rows.shape[0],), -1, dtype=torch.long)
    converged = True
    if len(nonzero) == 1:
        labels[nonzero] = 0
    elif len(nonzero) > 1:
        found = affinity_labels(rows[nonzero].detach().double().cpu().numpy(), preference, seed)
        converged = found is not None
        if converged:
            labels[nonzero] = torch.from_numpy(found).long()
    return LayerTying(torch.nonzero(zero).squeeze(1).cpu(), labels, converged)


@torch.no_grad()
def tie_rows(rows: torch.Tensor, tying: LayerTying) -> torch.Tensor:
    """Zero rows to zero, each cluster's rows to the cluster mean (vectorised)."""
    tied = rows.clone()
    tied[tying.zero.to(rows.device)] = 0.0
    labels = tying.labels.to(rows.device)
    member = labels >= 0
    if member.any():
        k = tying.n_clusters
        sums = torch.zeros(k, rows.shape[1], dtype=rows.dtype, device=rows.device)
        sums.index_add_(0, labels[member], rows[member])
        counts = torch.bincount(labels[member], minlength=k).to(rows.dtype)
        tied[member] = (sums / counts[:, None])[labels[member]]
    return tied


class TyingPlan:
    """The clustering of every eligible layer, and the tie step that enforces it."""

    def __init__(self, weights: dict[str, torch.Tensor], layers: dict[str, LayerTying]) -> None:
        self.weights = weights
        self.layers = layers

    @classmethod
    def build(cls, weights: Iterable[tuple[str, torch.Tensor]], preference: float,
              seed: int) -> "TyingPlan":
        weights = dict(weights)
        layers = {name: cluster_rows(row_view(w.detach()), preference, seed)
                  for name, w in weights.items()}
        return cls(weights, layers)

    @torch.no_grad()
    def apply(self) -> None:
        """Re-zero and re-tie every layer in place."""
        for name, weight in self.weights.items():
            tied = tie_rows(row_view(weight), self.layers[name])
            weight.copy_(rows_to_weight(tied, weight.shape))

    def summary(self) -> dict[str, dict[str, Any]]:
        return {name: layer.summary() for name, layer in self.layers.items()}
