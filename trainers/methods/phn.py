"""``phn_ls`` and ``phn_epo``: Pareto HyperNetworks (Navon et al., "Learning the Pareto
Front with Hypernetworks"; Navon et al. (2021);
docs/methods/front_learning.md#pareto-hypernetworks).

A hypernetwork maps a ray r to the weights of the sweep's architecture (the target,
trainers/models/hypernet.py); only the hypernetwork is trained. Each mini-batch draws
one ray r ~ Dir(alpha), generates the target's weights, computes the task losses L and
steps on sum_j w_j L_j with the weights w as constants:

- ``phn_ls``: w = r (linear scalarisation);
- ``phn_epo``: w = beta * J from EPO's LP (Mahapatra & Rajan, trainers/directions.py),
  built from the Gram matrix of the per-task gradients with respect to *all*
  hypernetwork parameters (two extra backward passes per step). EPO drives r_j L_j to
  be equal across tasks, so L is proportional to 1/r
  (docs/preferences.md#what-a-preference-means). Rays with (near-)zero entries
  give finite weights (the LP code clamps the logarithms; the authors' code NaNs,
  docs/methods/gradient_combining.md#epo-numerics)
  and a failed LP falls back to w = J r / sum r.

Choices where the COSMOS paper's code and the paper differ: Dirichlet alpha is 0.2 on
every data set as the papers state (the code's data set settings override it with 1.2
on Multi-MNIST and 0.5 on Adult/Compass, and crash on Default,
docs/methods/front_learning.md#phn-dirichlet-alpha). Training (trainers/presets.py): Adam lr
1e-4, no schedule, batch 256, 150 epochs on the 36x36 overlays, 50 on the fairness data
sets; 25 test rays; on ``synthetic_concave`` Adam lr 1e-2 for 300 steps (our choice:
the problem's SGD step 1 sends PHN-EPO to (1, 1)). The LP is solved with scipy's HiGHS
instead of cvxpy/GLPK (same LP). The reported parameter count is the hypernetwork's (3,243,410 with the ``lenet_pmtl``
target, the PHN paper's target shapes; the papers' "3,243k").
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch
from torch import nn

from trainers.directions import epo_weights
from trainers.methods import METHODS
from trainers.methods.base import GradientCombiningMethod, ScalarisingMethod
from trainers.methods.front import FRONT_PARAMS, FrontMethod
from trainers.methods.params import Param
from trainers.models.hypernet import ParetoHyperNet


class ParetoHyperNetworkMethod(FrontMethod):
    """Shared by both solvers: the hypernetwork model and its parameters; ``weights``
    are the loss weights of the last step."""

    param_table: dict[str, Param] = {**FRONT_PARAMS,
                                     "alpha": replace(FRONT_PARAMS["alpha"], default=0.2)}

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        self.weights = self.ray

    def build_model(self, build: Callable[[tuple[int, ...]], nn.Module],
                    input_shape: tuple[int, ...]) -> nn.Module:
        return ParetoHyperNet(build(input_shape), self.n_tasks)


@METHODS.register("phn_ls")
class ParetoHyperNetLS(ParetoHyperNetworkMethod, ScalarisingMethod):
    name = "phn_ls"
    description = "Pareto hypernetwork, linear scalarisation per sampled ray (PHN-LS)"

    def loss(self, objectives: torch.Tensor) -> torch.Tensor:
        """r . (L_1..L_m) for this batch's ray r (L_0, sparsity, is not an objective)."""
        self.weights = self.ray.detach()
        return torch.dot(self.weights.to(objectives), objectives[1:])


@METHODS.register("phn_epo")
class ParetoHyperNetEPO(ParetoHyperNetworkMethod, GradientCombiningMethod):
    name = "phn_epo"
    description = "Pareto hypernetwork, exact-Pareto-optimal (EPO) weights per ray (PHN-EPO)"
    fresh_forward = False   # the weighted loss reuses the hypernetwork's forward

    def gram_inputs(self) -> str:
        return "all"   # every hypernetwork parameter

    def weights_from_gram(self, gram: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        self.weights = epo_weights(gram, losses, self.host_ray)  # the LP runs on the host
        return self.weights
