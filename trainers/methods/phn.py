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

from abc import abstractmethod

import torch
from torch import nn

from trainers import loop
from trainers.datasets import Task
from trainers.directions import epo_weights
from trainers.methods import METHODS
from trainers.methods.front import FRONT_PARAMS, FrontMethod
from trainers.methods.params import Param
from trainers.models.hypernet import ParetoHyperNet


def task_gram(losses: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
    """C = G G^T of the per-task gradients over ``params`` (a missing gradient counts as
    zeros, docs/methods/gradient_combining.md#missing-gradients), in float64 as the LP
    takes it: float32 sums over millions of products lose about 1e-4; the graph is kept for
    the weighted backward pass."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for p, g in zip(params, grads)]))
    flat = torch.stack(rows).double()
    return flat @ flat.T


class ParetoHyperNetworkMethod(FrontMethod):
    """Shared by both solvers: the hypernetwork model and the weighted step."""

    param_table: dict[str, Param] = {**FRONT_PARAMS,
                                     "alpha": replace(FRONT_PARAMS["alpha"], default=0.2)}

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        self.weights = self.ray

    def build_model(self, build: Callable[[tuple[int, ...]], nn.Module],
                    input_shape: tuple[int, ...]) -> nn.Module:
        return ParetoHyperNet(build(input_shape), self.n_tasks)

    @abstractmethod
    def loss_weights(self, model: nn.Module, losses: torch.Tensor) -> torch.Tensor:
        """The constants w of this step's loss sum_j w_j L_j (the solver: LS or EPO)."""

    def train_step(self, model: nn.Module, tasks: tuple[Task, ...], x: torch.Tensor,
                   y: torch.Tensor, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        self.begin_step(model, x)
        objectives = loop.objective_vector(model, self, tasks, x, y)
        self.weights = self.loss_weights(model, objectives[1:]).detach()
        loss = self.scalarize(objectives)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def scalarize(self, objectives: torch.Tensor) -> torch.Tensor:
        return torch.dot(self.weights.to(objectives), objectives[1:])


@METHODS.register("phn_ls")
class ParetoHyperNetLS(ParetoHyperNetworkMethod):
    name = "phn_ls"
    description = "Pareto hypernetwork, linear scalarisation per sampled ray (PHN-LS)"

    def loss_weights(self, model: nn.Module, losses: torch.Tensor) -> torch.Tensor:
        return self.ray


@METHODS.register("phn_epo")
class ParetoHyperNetEPO(ParetoHyperNetworkMethod):
    name = "phn_epo"
    description = "Pareto hypernetwork, exact-Pareto-optimal (EPO) weights per ray (PHN-EPO)"

    def loss_weights(self, model: nn.Module, losses: torch.Tensor) -> torch.Tensor:
        params = [p for p in model.parameters() if p.requires_grad]
        return epo_weights(task_gram(losses, params), losses, self.ray)
