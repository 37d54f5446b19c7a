"""GrOWL parts of a sparse trial on MDMTN (36x36 two-digit overlays): the GrOWL value with
its gradient over all eligible layers, the in-place prox of every eligible layer, and
Affinity Propagation on the largest eligible layer's rows (what runs between the phases)."""
from __future__ import annotations

import torch

from benchmarks.common import DATASET, SHIFT, median, timed
from benchmarks.machine import load_average, sync
from trainers.datasets import DATASETS
from trainers.growl import growl_prox_
from trainers.models import ARCHITECTURES
from trainers.sparsity import growl_value, row_view
from trainers.tying import cluster_rows

BETA1, BETA2, TAU, AP_PREFERENCE = 0.8, 0.2, 1e-3, 0.7


def mdmtn(device: torch.device, arch: str = "mdmtn") -> torch.nn.Module:
    source = DATASETS.get(DATASET)
    options = source.resolve_options({"shift": SHIFT})
    return ARCHITECTURES.get(arch)(source.tasks_for(options), source.input_shape_for(options),
                                   DATASET, {}).to(device)


def run(device: torch.device, repeats: int = 5, arch: str = "mdmtn") -> None:
    model = mdmtn(device, arch)
    weights = [w for _, w in model.eligible_weights()]
    n_rows = sum(row_view(w).shape[0] for w in weights)

    def value() -> None:
        growl_value(weights, BETA1, BETA2).backward()
        sync(device)

    def prox() -> None:
        with torch.no_grad():
            for w in weights:
                growl_prox_(w, TAU, BETA1, BETA2)
        sync(device)

    name, largest = max(model.eligible_weights(), key=lambda item: row_view(item[1]).shape[0])
    rows = row_view(largest.detach())
    value()  # warm-up
    t_value = median([timed(value)[0] for _ in range(repeats)])
    t_prox = median([timed(prox)[0] for _ in range(repeats)])
    t_ap, tying = timed(cluster_rows, rows, AP_PREFERENCE, 0)
    print(f"{arch}: {len(weights)} eligible layers, {n_rows} rows; load average {load_average()}")
    print(f"{'part':<40} {'ms':>9}")
    print(f"{'GrOWL value + backward (all layers)':<40} {t_value * 1e3:>9.2f}")
    print(f"{'GrOWL prox (all layers, in place)':<40} {t_prox * 1e3:>9.2f}")
    label = f"AP on {name} ({rows.shape[0]}x{rows.shape[1]})"
    print(f"{label:<40} {t_ap * 1e3:>9.1f}   clusters: {tying.n_clusters}, "
          f"converged: {tying.converged}")
