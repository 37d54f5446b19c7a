"""``uniform``: linear scalarisation with equal task weights, (1/J) sum_j L_j.

The "Uniform" baseline of the papers (docs/methods/baselines.md#uniform;
``methods/uniform.py`` in the COSMOS code and in that of Ruchte & Grabocka (2021b)): one
model, one loss, one evaluated point. The papers write the weight as "1/j"; it means 1/J
over the J tasks. It takes no preference vector (a sweep that gives one is refused); it is
``linear`` at k = (0, 1/J, ..., 1/J), without the sparsity term. Training settings are the
data set's own: the values tuned by Ruchte & Grabocka (2021b), Table 5 (learning rate,
weight decay, cosine annealing) need a weight decay and scheduler the loop does not offer,
so a sweep sets ``train`` where it wants them.
"""
from __future__ import annotations

import torch

from trainers.methods import METHODS
from trainers.methods.base import ScalarisingMethod


@METHODS.register("uniform")
class Uniform(ScalarisingMethod):
    name = "uniform"
    description = "mean of the task losses (equal weights, no preference)"
    uses_preference = False

    @staticmethod
    def scalarise(objectives: torch.Tensor, preference: torch.Tensor, state=None) -> torch.Tensor:
        """Mean of L_1..L_J; L_0 (sparsity) is not an objective of this baseline."""
        return objectives[1:].mean()
