"""``linear``: weighted-sum scalarisation, sum_i k_i L_i (i = 0 is the sparsity term).

The baseline every multi-objective paper compares with; with equal task weights it is the
``uniform`` method of the papers (docs/papers.md), and over a preference grid it is "grid
search". It can only reach the convex part of a front (Lin et al. (2019), section 5;
docs/methods/baselines.md#linear).
"""
from __future__ import annotations

import torch

from trainers.methods import METHODS
from trainers.methods.base import SPARSITY_TABLE, ScalarisingMethod
from trainers.methods.params import Param


@METHODS.register("linear")
class Linear(ScalarisingMethod):
    name = "linear"
    description = "weighted sum of the objectives (k0 weights sparsity)"
    param_table: dict[str, Param] = {**SPARSITY_TABLE}   # the GrOWL weights of L0

    @staticmethod
    def scalarise(objectives: torch.Tensor, preference: torch.Tensor, state=None) -> torch.Tensor:
        return torch.dot(preference, objectives)
