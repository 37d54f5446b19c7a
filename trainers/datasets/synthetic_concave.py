"""``synthetic_concave``: the two-objective problem of the Pareto MTL paper (Lin et al.
(2019), section 5, eq. 19; docs/datasets.md#synthetic-concave-problem), where the true
front is known and concave:

    f1(x) = 1 - exp(-sum_i (x_i - 1/sqrt(d))^2),   f2(x) = 1 - exp(-sum_i (x_i + 1/sqrt(d))^2)

for x in R^d (``d`` = 20 in the paper). There is no data: the "network" is the decision
vector itself (architecture ``direct``, trainers/models/direct.py, x0 ~ U(-0.5, 0.5)^d),
and its output *is* the objective values, so the tasks are of kind ``objective``. Every
split holds one placeholder sample, so each epoch is one full-batch step, as in the
paper's 100 steps of size 1 (its presets, trainers/presets.py). Validation therefore measures the
same objectives again, and the reported point of a trial is its last iterate
(``checkpoint: last``, as in the paper): the lowest-f1+f2 epoch that the default rule
would pick lies nearer an end of a concave front than where a method converged.

The Pareto set is x = s / sqrt(d) * (1, ..., 1), s in [-1, 1], giving the front
f1 = 1 - exp(-(s - 1)^2), f2 = 1 - exp(-(s + 1)^2) (:meth:`front`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.datasets import DATASETS
from trainers.datasets.base import SPLITS, DatasetBundle, DatasetSource, Split, Task
from trainers.options import Option


@DATASETS.register("synthetic_concave")
class SyntheticConcave(DatasetSource):
    name = "synthetic_concave"
    tasks = (Task("f1", kind="objective", n_classes=None),
             Task("f2", kind="objective", n_classes=None))
    default_arch = "direct"
    option_table = {"d": Option(20, int, ge=1, le=100_000)}
    description = "Pareto MTL eq. 19: two objectives of x in R^d with a known concave front (no data)"

    @classmethod
    def input_shape_for(cls, options: dict[str, Any]) -> tuple[int, ...]:
        return (int(options["d"]),)

    @staticmethod
    def objectives(x: torch.Tensor) -> torch.Tensor:
        """(f1, f2) of the decision vector ``x`` (shape (d,)); differentiable."""
        shift = 1.0 / math.sqrt(x.numel())
        f1 = 1.0 - torch.exp(-((x - shift) ** 2).sum())
        f2 = 1.0 - torch.exp(-((x + shift) ** 2).sum())
        return torch.stack([f1, f2])

    @staticmethod
    def front(n: int = 101) -> np.ndarray:
        """``n`` points (f1, f2) of the true Pareto front, f1 increasing."""
        s = np.linspace(1.0, -1.0, n)
        return np.stack([1 - np.exp(-(s - 1) ** 2), 1 - np.exp(-(s + 1) ** 2)], axis=1)

    @classmethod
    def build(cls, options: dict[str, Any] | None, data_dir: Path | None = None) -> DatasetBundle:
        options = cls.checked_options(options)
        d = options["d"]
        placeholder = Split(torch.zeros(1, d), torch.zeros(1, len(cls.tasks)))
        return DatasetBundle(cls.name, cls.tasks, (d,), {s: placeholder for s in SPLITS},
                             info={"source": "closed form (Pareto MTL eq. 19)", **options})
