"""What COSMOS and the Pareto HyperNetworks share: one model for the whole front.

A front-learning method trains a single model that answers for any preference ray r
(J task weights on the simplex): each mini-batch draws one ray r ~ Dir(alpha), sets the
model to it and takes one step on the method's loss for that ray. It takes no
preference vector (``uses_preference = False``); the sweep gives ``test_rays`` instead
(docs/methods/front_learning.md#test-rays):

- two tasks: the COSMOS/PHN test rays, 25 by default, (cos a, sin a) with a evenly
  spaced in [0.1, pi/2 - 0.1], normalised to sum 1 (trainers/preferences.test_rays);
- J > 2 tasks: Das-Dennis points on the J-simplex (pymoo), with the largest number of
  partitions that gives at most ``test_rays`` points, and at least one partition (the J
  vertices); the papers name no rays for J > 2, and these include the simplex boundary.

Every test ray becomes a stored point per split (``eval_rays``, with k0 = 0 in front:
these methods have no sparsity objective). The checkpoint rule maximises the mean
selection score (mean validation accuracy, or minus the mean loss) over ``val_rays``
test rays spread evenly by index (5 by default, always including both extremes), so the
kept epoch is good for the whole front rather than for one ray. (The COSMOS protocol
keeps the epoch of best validation hypervolume; a mean over rays is the tool's
per-epoch score, comparable across methods.)

Training rays come from a numpy generator seeded from torch's global RNG at the first
step, so a trial's rays are reproducible from its seed and the network's
initialisation is not shifted by the draw.

``lr_milestones`` (optional) switches the stage's learning-rate schedule to the papers'
MultiStep: the rate is multiplied by ``lr_gamma`` at each listed iteration (epoch, with
``epochs_per_iteration = 1``); without it ``train.lr_decay`` applies as usual.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from trainers import loop
from trainers.datasets import Split, Task
from trainers.methods.base import Method
from trainers.methods.params import Param, ParamError, integer, real
from trainers.preferences import dirichlet_ray, expand, test_rays

#: parameters every front-learning method takes (method modules add their own)
FRONT_PARAMS: dict[str, Param] = {
    # Dirichlet concentration of the training rays (one number, or one per task)
    "alpha": real(1.2, 0.0, open_low=True, shape="one|list"),
    "test_rays": integer(25, 2),      # number of evaluation rays (stored points per split)
    "val_rays": integer(5, 1),        # test rays averaged by the checkpoint rule
    # MultiStep iterations, or None for train.lr_decay
    "lr_milestones": integer(None, 1, null=True, shape="list"),
    "lr_gamma": real(0.1, 0.0, open_low=True),   # MultiStep factor
}


def evaluation_rays(count: int, n_tasks: int) -> list[list[float]]:
    """The test rays (J task weights each), as described in the module docstring."""
    if n_tasks == 2:
        return test_rays(count)
    partitions = 1
    while math.comb(partitions + n_tasks, n_tasks - 1) <= count:
        partitions += 1
    return [vec[1:] for vec in expand({"simplex": {"n_partitions": partitions}}, n_tasks)]


def spread_indices(n: int, k: int) -> list[int]:
    """``k`` indices of 0..n-1 spread evenly, ends included, without repeats."""
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n)).round()})


#: training rays drawn (and moved to the device) at once
RAY_BLOCK = 256


class FrontMethod(Method):
    """Base class: ray sampling, test rays, per-ray evaluation and checkpoint score.
    A subclass also derives from ``ScalarisingMethod`` or ``GradientCombiningMethod``,
    after this class, which gives the loss at the drawn ray.

    Its model has ``set_ray(ray)`` (trainers/models/conditioning.py, hypernet.py).
    """

    uses_preference = False
    param_table: dict[str, Param] = FRONT_PARAMS

    def __init__(self, preference: list[float] | None, params: dict[str, Any],
                 n_tasks: int) -> None:
        super().__init__(preference, params, n_tasks)
        alpha = params["alpha"]
        if isinstance(alpha, (list, tuple)) and len(alpha) != n_tasks:
            raise ParamError("alpha", f"alpha lists one value per task: {n_tasks} needed, "
                             f"got {len(alpha)}")
        self.rays = evaluation_rays(int(params["test_rays"]), n_tasks)
        self.val_indices = spread_indices(len(self.rays), int(params["val_rays"]))
        self._rng: np.random.Generator | None = None
        self._drawn: torch.Tensor | None = None  # rays drawn ahead, on the step's device
        self._drawn_host: torch.Tensor | None = None  # the same rays on the host
        self._next = 0
        self.ray = torch.full((n_tasks,), 1.0 / n_tasks)
        #: this step's ray on the host, for solvers that run there (EPO's LP)
        self.host_ray = self.ray

    def sample_ray(self, device: torch.device) -> torch.Tensor:
        """One training ray r ~ Dir(alpha), drawn from the trial's seeded stream. Rays are
        drawn RAY_BLOCK at a time (the same stream of rays) and copied to the device
        together: a copy per step would make the host wait for the GPU each step."""
        if self._rng is None:
            self._rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        if self._drawn is None or self._next == len(self._drawn):
            block = dirichlet_ray(self.params["alpha"], self.n_tasks, self._rng, RAY_BLOCK)
            self._drawn_host = torch.as_tensor(block)
            self._drawn, self._next = self._drawn_host.to(device), 0
        ray, self.host_ray = self._drawn[self._next], self._drawn_host[self._next]
        self._next += 1
        return ray

    def begin_step(self, model: nn.Module, x: torch.Tensor) -> None:
        """Draw this mini-batch's ray and set the model to it."""
        self.ray = self.sample_ray(x.device)
        model.set_ray(self.ray)

    def batch_loss(self, model: nn.Module, tasks: tuple[Task, ...], x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor | None:
        """The method's loss (scalarising or gradient-combining) at a fresh ray."""
        self.begin_step(model, x)
        return super().batch_loss(model, tasks, x, y)

    def eval_rays(self) -> list[list[float]]:
        return [[0.0, *ray] for ray in self.rays]

    def condition(self, model: nn.Module, ray: list[float]) -> None:
        model.set_ray(ray[1:])

    def validation_score(self, model: nn.Module, split: Split, tasks: tuple[Task, ...],
                         batch_size: int) -> float:
        scores = []
        for index in self.val_indices:
            model.set_ray(self.rays[index])
            scores.append(loop.evaluate(model, split, tasks, batch_size).selection_score)
        return float(np.mean(scores))

    def lr_scheduler(self, optimizer: torch.optim.Optimizer, settings):
        milestones: Sequence[int] | None = self.params["lr_milestones"]
        if milestones is None:
            return super().lr_scheduler(optimizer, settings)
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones),
                                                    gamma=float(self.params["lr_gamma"]))
