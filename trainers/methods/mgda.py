"""``mgda``: the Multiple Gradient Descent Algorithm for multi-task learning (Sener &
Koltun (2018), sections 3.1-3.2; docs/methods/gradient_combining.md#mgda and
#mgda-presets).

Per mini-batch: the gradient g_t of every task loss, each divided by a normaliser n_t;
the min-norm weights alpha (alpha >= 0, sum 1) of the convex hull of {g_t / n_t}; then a
fresh forward and one optimiser step on sum_t alpha_t L_t with the *un-normalised*
losses and alpha held constant. It takes no preference vector: MGDA finds one Pareto
stationary point, not a chosen trade-off.

Parameters:

- ``mode``: ``exact`` differentiates w.r.t. the parameters named by ``grad_set``;
  ``ub`` (MGDA-UB, the paper's upper bound) w.r.t. the shared representation z: z is
  computed without graph, made a leaf, and each L_t is backpropagated through the heads
  only (architectures with one z feeding every head: hps, lenet, lenet_pmtl, mlp; the
  authors' repositories never got this path working,
  docs/methods/gradient_combining.md#mgda-ub-in-the-authors-code).
- ``grad_set`` (exact mode): ``shared`` = ``model.shared_parameters()`` (the paper, and the
  MDMTN paper's baseline) or ``all`` (heads included, as the MGDA* of Ruchte & Grabocka
  (2021b)).
- ``normalization``: ``l2`` (||g_t||), ``loss`` (L_t), ``loss+`` (L_t ||g_t||) or
  ``none``; default ``none`` as in the MDMTN paper's baseline. A normaliser that is zero
  or not finite is replaced by 1 (that gradient is then left as it is).
- ``solver``: ``frank_wolfe`` (trainers/min_norm.py: exact closed form for two tasks,
  Frank-Wolfe with exact line search for more, iteration cap enforced); ``clip``: 0 (the
  paper's exact minimiser) or e.g. 0.001 to reproduce the code's [0.001, 0.999] clipping
  of the two-task weight.

We deliberately do not reproduce the MDMTN code's gradient bookkeeping (leftover task
gradients added to the final update,
docs/methods/gradient_combining.md#gradient-bookkeeping-in-the-mdmtn-code): every task
gradient is taken on its own.

Presets (trainers/presets.py): MultiMNIST and Cifar10Mnist use the MDMTN paper's MGDA
schedule (docs/methods/gradient_combining.md#mgda-presets): SGD lr 1e-2, momentum 0.9,
batch 256, 100 epochs, lr halved three times. We express it as
``epochs_per_iteration: 30, lr_decay: 0.5``, which halves after 30, 60 and 90 *completed*
epochs (epochs 0-29, 30-59, 60-89, 90-99); the authors' scheduler halves one epoch later
(0-30, 31-60, 61-90, 91-99). Their 10 (MM) / 5 (CM) "repetitions" continue training one
model; here repetitions are independent runs (seeds). The 36x36 Pareto MTL overlays
(multimnist36, multifashion, multifashion_mnist) use the setting of COSMOS and Ruchte &
Grabocka (2021b): Adam lr 1e-3, batch 256, 100 epochs, no schedule (the latter tuned its
schedule per data set).
"""
from __future__ import annotations

from typing import Any

import torch

from trainers.methods import METHODS
from trainers.methods.base import GradientCombiningMethod
from trainers.methods.params import Param, real, word
from trainers.methods.task_gradients import GRAD_SETS
from trainers.min_norm import min_norm_weights

NORMALIZATIONS = ("l2", "loss", "loss+", "none")
MODES = ("exact", "ub")
SOLVERS = ("frank_wolfe",)


def normalizers(kind: str, losses: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """n_t per task (docs/methods/gradient_combining.md#gradient-normalisation), the
    gradient norms read off the Gram matrix's diagonal; unusable values (0, inf, NaN)
    become 1."""
    norms = gram.diagonal().clamp(min=0.0).sqrt()
    values = {"l2": norms, "loss": losses, "loss+": losses * norms,
              "none": torch.ones_like(norms)}[kind]
    usable = torch.isfinite(values) & (values > 0)
    return torch.where(usable, values, torch.ones_like(values))


@METHODS.register("mgda")
class MGDA(GradientCombiningMethod):
    name = "mgda"
    description = "min-norm combination of task gradients (Sener & Koltun; no preference)"
    uses_preference = False
    param_table: dict[str, Param] = {
        "mode": word("exact", MODES),                  # exact | ub
        "grad_set": word("shared", GRAD_SETS),         # exact mode: shared (paper) | all (MGDA*)
        "normalization": word("none", NORMALIZATIONS),  # l2 | loss | loss+ | none (MDMTN baseline)
        "solver": word("frank_wolfe", SOLVERS),
        # 0.001 reproduces the code's two-task clipping; 0.5 would fix the weights
        "clip": real(0.0, 0.0, 0.5, open_high=True),
    }

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        self.alpha = torch.full((n_tasks,), 1.0 / n_tasks, dtype=torch.float64)

    def gram_inputs(self) -> str:
        """Exact mode: the ``grad_set`` parameters; MGDA-UB: the shared representation."""
        return self.params["grad_set"] if self.params["mode"] == "exact" else "representation"

    def weights_from_gram(self, gram: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        """Min-norm weights alpha of the normalised gradients g_t / n_t, whose Gram matrix
        is G_ij / (n_i n_j)."""
        n = normalizers(self.params["normalization"], losses, gram)
        self.alpha = min_norm_weights(gram / torch.outer(n, n), clip=float(self.params["clip"]))
        return self.alpha

    def state(self) -> dict[str, Any]:
        """The weights alpha of the last step."""
        return {"alpha": [float(a) for a in self.alpha]}
