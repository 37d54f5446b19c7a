"""``pmtl``: Pareto Multi-Task Learning (Lin et al. (2019);
docs/methods/gradient_combining.md#pareto-mtl and #pareto-mtl-implementations).

K unit reference vectors u_1..u_K split the loss space into cones; a trial trains one
network into the cone of its own vector u_k, Omega_k = {L : (u_j - u_k) . L <= 0 for all
j}, so a sweep over the K vectors spreads solutions over the whole front, concave parts
included. ``u`` lives in *loss space*
(docs/preferences.md#what-a-preference-means): u = (1, 0) asks for a large L_1 relative to
L_2, i.e. it favours task 2.

Which vector a trial uses: the trial's preference vector. Its task part (k_1..k_m) is
read as a direction in loss space, u_k = (k_1..k_m) / ||(k_1..k_m)||; the other rays are
the ``n_rays`` reference vectors, the one nearest to u_k being replaced by u_k. For two
tasks the reference vectors are the paper's (cos a, sin a), a evenly spaced in
[0, pi/2]; for m > 2 tasks the Das-Dennis simplex points with ``n_rays - 1`` partitions,
scaled to unit length (not evenly spaced in angle; the paper gives no m > 2 recipe). So

- ``preferences: {explicit: [...]}`` with the paper's five rays normalised to sum 1
  (0, 1, 0), (0, a, 1 - a), (0, 0.5, 0.5), (0, 1 - a, a), (0, 0, 1), a = 1/sqrt(2) =
  0.70710678 = cos 22.5 / (cos 22.5 + sin 22.5), reproduces the paper exactly (any
  positive scaling gives the same direction);
- ``preferences: {simplex: {n_partitions: 4}}`` runs the five simplex points as
  directions (angles 0, 18.4, 45, 71.6, 90 degrees); the regions stay proper cones. (The
  code of Ruchte & Grabocka (2021b) instead L1-normalises its *reference* vectors, which
  collapses the interior regions onto the diagonal,
  docs/methods/gradient_combining.md#simplex-reference-vectors; we never do.)
The trial's preference is what the store records. k0 (sparsity) must be 0.

Schedule (``fit``):

- Phase 1 (eq. 9): for at most ``phase1_epochs`` epochs of mini-batches, stop as soon as
  the losses lie in Omega_k (active set empty; strict G_j > 0, epsilon = 0, checked on
  L/||L||, as the code) *without taking a step*; otherwise step on w . L with w = u_j -
  u_k for one violated constraint, or the min-norm combination over several. w may be
  negative (ascent on one task) and is not rescaled.
- Phase 2 (eqs. 10-14, 18): min-norm over {g_1..g_m} and the active constraint
  gradients, alpha = lambda + sum_j beta_j (u_j - u_k), rescaled so that sum |alpha| = m
  (alpha = 0, no step, where that sum vanishes), one step on alpha . L with alpha
  constant; ``train.epochs`` epochs. Both phases use trainers/directions.py.

Gradients are taken w.r.t. all parameters (``grad_set: all``, the paper; the other
task's head contributes exact zeros, docs/methods/gradient_combining.md#missing-gradients)
or only the shared ones (``shared``, COSMOS' port). Phase 1 has its own optimiser; phase 2
starts a fresh one with the full learning rate (phase 1 runs before the paper's 100 epochs
and its scheduler).

Checkpoint: ``train.checkpoint`` defaults to ``last`` for this method (the paper and its
code keep the last epoch; there is no validation split there); ``best_val`` keeps the
best-validation phase-2 epoch like the generic loop. The learning-rate schedule counts
phase-2 epochs only.

Presets (trainers/presets.py): 100 epochs everywhere (the paper). The 36x36 overlays
(multimnist36, multifashion, multifashion_mnist): Adam lr 1e-3, batch 256, lr halved after
15, 30, ..., 90 completed epochs (``epochs_per_iteration: 15, lr_decay: 0.5``, equal to MultiStep
[15, 30, 45, 60, 75, 90] gamma 0.5 over 100 epochs; the PMTL code steps its scheduler at
the start of each epoch, one epoch earlier,
docs/methods/gradient_combining.md#scheduler-timing). With the paper's own ``lenet_pmtl``
on those data sets: the PMTL code's SGD lr 1e-3, momentum 0.9, same schedule.
``synthetic_concave``: the paper's example, 10 rays, 20 phase-1 steps and 80 phase-2
full-batch steps of size 1.

Each trial initialises its network from its seed, so rays with the same seed share the
initial weights (like the copies of Ruchte & Grabocka (2021b); the paper draws a fresh
network per ray).
"""
from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from trainers import loop
from trainers.directions import circle_rays, pmtl_phase1_weights, pmtl_phase2_weights
from trainers.methods import METHODS
from trainers.methods.base import GradientCombiningMethod
from trainers.methods.params import Param, integer, word
from trainers.methods.task_gradients import GRAD_SETS
from trainers.preferences import expand


def reference_rays(n_rays: int, n_tasks: int) -> torch.Tensor:
    """Unit reference vectors: the paper's quarter circle for two tasks, Das-Dennis
    directions normalised to unit length for more."""
    if n_tasks == 2:
        return circle_rays(n_rays)
    points = expand({"simplex": {"n_partitions": n_rays - 1}}, n_tasks)
    rays = torch.tensor([p[1:] for p in points], dtype=torch.float64)
    return rays / rays.norm(dim=1, keepdim=True)


def rays_for(preference: torch.Tensor, n_rays: int) -> tuple[torch.Tensor, int]:
    """The reference rays with the nearest one replaced by the preference direction u_k;
    returns the rays and k."""
    u = preference.to(torch.float64)
    u = u / u.norm()
    rays = reference_rays(n_rays, len(u)).clone()
    k = int(torch.argmax(rays @ u))
    rays[k] = u
    return rays, k


@METHODS.register("pmtl")
class ParetoMTL(GradientCombiningMethod):
    name = "pmtl"
    description = "Pareto MTL: constrained descent into the cone of one preference ray"
    param_table: dict[str, Param] = {
        "n_rays": integer(5, 2),          # K reference vectors (per simplex edge for m > 2)
        "phase1_epochs": integer(2, 0),   # at most this many epochs to reach the ray's region
        "grad_set": word("all", GRAD_SETS),   # all (paper) | shared (COSMOS port)
    }

    @classmethod
    def check_preference(cls, preference: list[float]) -> None:
        if len(preference) < 3:
            raise ValueError("pmtl needs at least two tasks")
        if preference[0] > 0:
            raise ValueError("pmtl has no sparsity objective: the preference's k0 must be 0")
        if not sum(preference[1:]) > 0:
            raise ValueError("pmtl needs a preference direction with a positive task weight")

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        self.check_preference(self.preference)
        self.rays, self.ray = rays_for(self.k[1:], int(params["n_rays"]))
        self.phase = 1
        self.weights = torch.zeros(n_tasks, dtype=torch.float64)
        self.phase1_steps = 0
        self.feasible = False
        self.losses = torch.zeros(n_tasks, dtype=torch.float64)

    def weights_from_gram(self, gram: torch.Tensor, losses: torch.Tensor) -> torch.Tensor | None:
        """Loss weights of the current phase; None (no step) in phase 1 once the point is
        feasible. The batch's task losses stay in ``self.losses``."""
        self.losses = losses
        if self.phase == 1:
            weights = pmtl_phase1_weights(gram, losses, self.rays, self.ray)
            if weights is None:  # phase 1 reached the region: no step
                self.feasible = True
                return None
            self.phase1_steps += 1
        else:
            weights = pmtl_phase2_weights(gram, losses, self.rays, self.ray)
        self.weights = weights
        return weights

    def find_feasible(self, model: nn.Module, data: loop.TrainData, settings,
                      generator: torch.Generator) -> None:
        """Phase 1: steps towards the region until feasible, at most ``phase1_epochs``."""
        optimizer = loop.make_optimizer(settings, list(model.parameters()))
        model.train()
        for _ in range(int(self.params["phase1_epochs"])):
            for x, y in loop.batches(data.train, settings.batch_size, generator):
                loop.step(model, self, data.tasks, x, y, optimizer)
                if self.feasible:
                    return

    def fit(self, model, data: loop.TrainData, settings, generator: torch.Generator,
            on_epoch=None) -> loop.FitOutcome:
        """Phase 1 (its steps, time and success go to ``info``), then ``train.epochs`` of
        phase 2 with the ``train.checkpoint`` rule; the whole run is one training time."""
        start = time.perf_counter()
        self.phase = 1
        self.find_feasible(model, data, settings, generator)
        time_phase1 = time.perf_counter() - start
        self.phase = 2
        stage = loop.run_stage(model, self, data, settings,
                               loop.Stage("pmtl", settings.epochs,
                                          checkpoint=loop.checkpoint_rule(settings)),
                               generator, on_epoch)
        info = {"pmtl_phase1_steps": self.phase1_steps, "pmtl_phase1_feasible": self.feasible,
                "pmtl_phase1_time_s": time_phase1}
        return loop.FitOutcome([stage], time_phase1_s=time_phase1 + stage.time_s, info=info)

    def state(self) -> dict[str, Any]:
        return {"ray": self.ray, "ray_direction": [float(v) for v in self.rays[self.ray]],
                "phase": self.phase, "weights": [float(w) for w in self.weights],
                "phase1_steps": self.phase1_steps, "feasible": self.feasible}
