"""The MDMTN paper's sparse-then-tied schedule for k0 > 0 (Hotegni et al. (2024),
Algorithm 1; docs/methods/wc_al.md#two-phase-schedule).

Phase 1 (M1 iterations of p epochs; LSUV before it where the method says so):
  every step   the rows pruned so far are held at exactly zero;
  every epoch  after the last batch, the GrOWL prox on each eligible layer (all weights
               but input layers and heads), then the per-layer cap of iteration j,
               s_lmax^j = j * s_lmax / M1 (the smallest-norm rows stay pruned);
  checkpoint   the best-validation epoch among those whose model sparsity SR (zero rows
               over all rows) is at least s_min; if none reaches s_min, the
               best-validation epoch regardless (recorded in the trial's info;
               docs/methods/wc_al.md#phase-1-checkpoint).
Between the phases: Affinity Propagation on each eligible layer's rows (trainers/tying.py).
Phase 2 (M2 iterations of p epochs, fresh optimiser and learning-rate schedule, lambda and
mu restarted): zero rows held at zero every step; at every epoch end zero rows re-zeroed
and each cluster's rows replaced by their mean; best-validation checkpoint, so the final
model is sparse and tied.

The prox threshold is tau * theta. ``prox_step`` says what tau is:
- ``epoch_lr`` (default): the sum of the learning rates of the epoch's optimiser steps,
  lr * n_batches. The prox is the proximal half of a proximal-gradient method whose
  gradient half is the epoch of optimiser steps; applying it once per epoch instead of
  after every step accumulates the per-step thresholds (exact for the group soft
  threshold). It therefore decays with the learning rate, as a proximal step should.
- ``raw``: tau = 1, the raw theta values as thresholds (the authors' code,
  docs/methods/wc_al.md#prox-step-size).
- a number: a fixed tau.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

from trainers import loop
from trainers.growl import ZeroRows, growl_prox_
from trainers.metrics import sparsity_metrics
from trainers.models import MultiTaskNet
from trainers.settings import TrainSettings
from trainers.tying import TyingPlan

#: AP's random_state (it only breaks exact ties); fixed so a trial is a function of its config
AP_SEED = 0

PROX_STEPS: dict[str, Callable[[loop.EpochEnd], float]] = {
    "epoch_lr": lambda end: end.lr * end.n_batches,
    "raw": lambda end: 1.0,
}


def prox_tau(rule: Any, end: loop.EpochEnd) -> float:
    """tau for this epoch under ``prox_step`` (a rule name or a number)."""
    if isinstance(rule, str):
        return PROX_STEPS[rule](end)
    return float(rule)


class GrowlPhase:
    """Phase 1's hooks: hold pruned rows (every step), prox and cap (every epoch end)."""

    def __init__(self, model: MultiTaskNet, params: dict[str, Any], iterations: int) -> None:
        self.model, self.params, self.iterations = model, params, iterations
        self.pruned = ZeroRows(model.eligible_weights())

    def hold(self) -> None:
        self.pruned.hold()

    def cap(self, iteration: int) -> float:
        """s_lmax^j = j * s_lmax / M1 for iteration j = 1..M1."""
        return self.params["s_lmax"] * min(iteration + 1, self.iterations) / self.iterations

    def __call__(self, end: loop.EpochEnd) -> dict[str, Any]:
        tau = prox_tau(self.params["prox_step"], end)
        cap = self.cap(end.iteration)
        for _, weight in self.model.eligible_weights():
            growl_prox_(weight, tau, self.params["beta1"], self.params["beta2"], cap)
        self.pruned = ZeroRows(self.model.eligible_weights())
        return {"prox_tau": tau, "cap": cap, "sr": sparsity_metrics(self.model)["sr"]}


class SparseCheckpoint:
    """Phase 1's rule (docs/methods/wc_al.md#phase-1-checkpoint): best validation among
    epochs with SR >= s_min, else the best validation epoch overall (the "draft")."""

    def __init__(self, s_min: float) -> None:
        self.s_min = s_min
        self.sparse = loop.BestValidation()
        self.draft = loop.BestValidation()

    def consider(self, model: MultiTaskNet, method, record: dict[str, Any]) -> None:
        self.draft.consider(model, method, record)
        if sparsity_metrics(model)["sr"] >= self.s_min:
            self.sparse.consider(model, method, record)

    def restore(self, model: MultiTaskNet, method) -> dict[str, Any]:
        if self.sparse.state is not None:
            return {**self.sparse.restore(model, method), "checkpoint": "sparse"}
        return {**self.draft.restore(model, method),
                "checkpoint": f"draft: no epoch reached s_min = {self.s_min}"}


class TieStep:
    """Phase 2's epoch end: re-zero and re-tie
    (docs/methods/wc_al.md#two-phase-schedule)."""

    def __init__(self, plan: TyingPlan) -> None:
        self.plan = plan

    def __call__(self, end: loop.EpochEnd) -> dict[str, Any]:
        self.plan.apply()
        return {}


def fit_two_phase(model: MultiTaskNet, method, data: loop.TrainData, settings: TrainSettings,
                  generator: torch.Generator, on_epoch=None,
                  time_before_s: float = 0.0) -> loop.FitOutcome:
    """Phase 1, AP, phase 2; ``time_before_s`` (LSUV) counts toward phase 1."""
    params, p = method.params, settings.epochs_per_iteration
    m1, m2 = int(params["phase1_iterations"]), int(params["phase2_iterations"])
    growl = GrowlPhase(model, params, m1)
    phase1 = loop.run_stage(model, method, data, settings,
                            loop.Stage("phase1", m1 * p, after_step=[growl.hold],
                                       after_epoch=[growl],
                                       checkpoint=SparseCheckpoint(params["s_min"])),
                            generator, on_epoch)
    start = time.perf_counter()
    plan = TyingPlan.build(model.eligible_weights(), params["ap_preference"], AP_SEED)
    time_ap = time.perf_counter() - start
    zero = ZeroRows(model.eligible_weights())
    method.restart()   # WC-AL's own: lambda and mu start again
    phase2 = loop.run_stage(model, method, data, settings,
                            loop.Stage("phase2", m2 * p, after_step=[zero.hold],
                                       after_epoch=[TieStep(plan)]),
                            generator, on_epoch)
    info = {"phase1": {"best_epoch": phase1.best_epoch, "best_val_score": phase1.best_val_score,
                       **phase1.info},
            "time_ap_s": time_ap, "tying": plan.summary()}
    return loop.FitOutcome([phase1, phase2], time_phase1_s=time_before_s + phase1.time_s + time_ap,
                           time_phase2_s=phase2.time_s, info=info)
