"""``cosmos``: one network for the whole front, conditioned on the preference ray
(Ruchte & Grabocka, "Efficient Multi-Objective Optimization for Deep Learning";
docs/methods/front_learning.md#input-fusion, docs/methods/front_learning.md#cosmos-loss).

The sweep's architecture is built for the input fused with the ray
(trainers/models/conditioning.py). Each mini-batch draws one ray r ~ Dir(alpha) and
takes one step on

    sum_j r_j L_j  -  penalty * cos(L, r),     cos(L, r) = r.L / (|r| |L|), eps 1e-8,

the linear scalarisation plus a cosine penalty that pulls the loss vector towards the
ray's direction (a larger ``penalty`` spreads the front; ``penalty`` is the paper's
lambda). The losses are the plain batch means, not normalised (the paper's final form).
At evaluation the network is run once per test ray (trainers/methods/front.py).
Conditioning acts through the input, so an architecture that ignores its input (the
``direct`` decision vector of ``synthetic_concave``) answers every ray alike: its
"front" is one point, repeated per ray (use ``phn_ls``/``phn_epo`` there).

Presets (trainers/presets.py, docs/methods/front_learning.md#cosmos-presets): Multi-MNIST,
Multi-Fashion, Multi-Fashion+MNIST alpha 1.2 and penalty 2 / 2 / 8. The paper text says
lambda = 8 on Multi-MNIST while its code (and Ruchte & Grabocka (2021b), quoting the
original values) uses 2; we trust 2 / 2 / 8
(docs/methods/front_learning.md#cosmos-penalty-on-multi-mnist). The MDMTN paper's
``multimnist`` borrows the Multi-MNIST values (no values of its own). Training there: Adam
lr 1e-3, batch 256, 100 epochs, MultiStep x0.1 at epochs 20, 40, 80, 90. Fairness (Adult,
Compas): alpha 0.5, penalty 0.01; Default: alpha (0.1, 0.5) per objective; Adam 1e-3,
batch 256, 50 epochs, no schedule. CelebA: alpha 1, penalty 3, lr 5e-4, batch 32, 25
epochs (the paper's count; the code runs 30). Elsewhere the defaults alpha 1.2, penalty 2,
25 test rays apply.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from trainers.methods import METHODS
from trainers.methods.base import ScalarisingMethod
from trainers.methods.front import FRONT_PARAMS, FrontMethod
from trainers.methods.params import Param, real
from trainers.models.conditioning import RayConditionedNet

#: eps of the cosine, as PyTorch's cosine similarity uses it in the paper's code
COSINE_EPS = 1e-8


def cosmos_loss(losses: torch.Tensor, ray: torch.Tensor, penalty: float) -> torch.Tensor:
    """sum_j r_j L_j - penalty * cos(L, r) for task losses L and ray r (both (J,))."""
    cosine = F.cosine_similarity(losses, ray.to(losses), dim=0, eps=COSINE_EPS)
    return torch.dot(ray.to(losses), losses) - penalty * cosine


@METHODS.register("cosmos")
class Cosmos(FrontMethod, ScalarisingMethod):
    name = "cosmos"
    description = "one ray-conditioned network for the whole front (COSMOS)"
    param_table: dict[str, Param] = {
        **FRONT_PARAMS,
        "alpha": replace(FRONT_PARAMS["alpha"], default=1.2),
        "penalty": real(2.0, 0.0),    # lambda of the cosine term
    }

    def build_model(self, build: Callable[[tuple[int, ...]], nn.Module],
                    input_shape: tuple[int, ...]) -> nn.Module:
        return RayConditionedNet(build, input_shape, self.n_tasks)

    def loss(self, objectives: torch.Tensor) -> torch.Tensor:
        """The COSMOS loss of the task losses (objectives[1:]) for this batch's ray."""
        return cosmos_loss(objectives[1:], self.ray, float(self.params["penalty"]))
