"""``mtan``: the multi-task attention network trained as the MDMTN paper compares it
(docs/methods/baselines.md#mtan, docs/architectures.md#mtan): the ``mtan`` architecture on
lambda_1 L_1 + lambda_2 L_2 with fixed weights lambda_t.

Choices:

- it takes no preference vector: MTAN is a single-point baseline with tuned weights. The
  weights are the ``lambda`` parameter (one number for every task, or one per task); a
  sweep searches them with a ``search`` axis, as the authors' lambda search did. For a
  front of MTAN over preference weights, run ``linear`` on architecture ``mtan``.
- default ``lambda`` 0.05 per task: the equal-weight candidate of the authors' grid, whose
  candidates all sum to 0.1; the selected value is not recorded.
- presets (trainers/presets.py; MultiMNIST, Cifar10Mnist, and the 36x36 overlays that
  borrow MultiMNIST's):
  Adam, 200 epochs, x0.5 every 25 epochs, batch 256. The learning rate came from a
  search over 1e-5 .. 1e-1 whose result is not recorded either; we use 1e-3, Adam's usual
  value and the middle of that grid.
- LSUV at the start (``lsuv``, default true): paper and code agree.
- attention per task, as MTAN means and the paper describes; the authors' code shares one
  attention instance between the tasks (architecture option ``shared_attention``).
- best-validation checkpoint, the generic loop's.
"""
from __future__ import annotations

from typing import Any

import torch

from trainers import loop
from trainers.methods import METHODS
from trainers.methods.base import ScalarisingMethod
from trainers.methods.mdmtn_baselines import initialise, require, task_weights, weight_vector
from trainers.methods.params import Param, flag
from trainers.models.mtan import MTANNet


@METHODS.register("mtan")
class MTAN(ScalarisingMethod):
    name = "mtan"
    description = "multi-task attention network on fixed task weights lambda_t"
    uses_preference = False
    architectures = ("mtan",)
    param_table: dict[str, Param] = {"lambda": task_weights(0.05), "lsuv": flag(True)}

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        self.lambdas = weight_vector(params["lambda"], n_tasks, "lambda")

    def to(self, device: torch.device) -> "MTAN":
        super().to(device)
        self.lambdas = self.lambdas.to(device)
        return self

    def build_model(self, build, input_shape):
        model = build(input_shape)
        require(model, MTANNet, self.name, "mtan")
        return model

    def loss(self, objectives: torch.Tensor) -> torch.Tensor:
        """sum_t lambda_t L_t (L_0, sparsity, is not an objective of this baseline)."""
        return torch.dot(self.lambdas, objectives[1:])

    def initialise(self, model, data: loop.TrainData, settings,
                   generator: torch.Generator) -> None:
        initialise(model, data, settings, generator, self.params["lsuv"])

    def state(self) -> dict[str, Any]:
        return {"lambda": [float(v) for v in self.lambdas.detach().cpu()]}
