"""The packed methods' schedules, each the unpacked ``fit`` of its method over a pack:

- one stage of ``train.epochs`` (linear, uniform, mgda, WC-AL with k0 = 0; ``loop.train``);
- Pareto MTL: the feasibility search (each member stops at its own step, as unpacked),
  then one stage of phase 2 for all (``ParetoMTL.fit``);
- WC-AL with k0 > 0: phase 1 with every member's GrOWL prox and cap, Affinity
  Propagation per member, phase 2 with every member's tying (``fit_two_phase``).

Each returns the wall time of its phases, which every member of the pack shares.
"""
from __future__ import annotations

import time

import torch

from trainers import loop
from trainers.growl import ZeroRows
from trainers.methods.two_phase import AP_SEED, GrowlPhase, SparseCheckpoint, TieStep
from trainers.packing.loop import BatchOrder, Pack, PackedStage, run_stage, train_steps
from trainers.packing.optim import PackedOptimizer
from trainers.tying import TyingPlan


def fit_single(pack: Pack) -> tuple[float, float | None]:
    """One stage, each member's ``checkpoint`` rule (``loop.train``)."""
    settings = pack.settings
    checkpoints = {i: pack.members[i].method.checkpoint(pack.members[i].model, settings)
                   for i in pack.live()}
    start = time.perf_counter()
    run_stage(pack, PackedStage("train", settings.epochs, checkpoints))
    for i in pack.live():
        pack.members[i].info.update(pack.members[i].stages[-1].info)
    return time.perf_counter() - start, None


def find_feasible(pack: Pack) -> None:
    """Pareto MTL's phase 1 for every member: steps until its losses lie in its ray's
    region (no step then) or ``phase1_epochs`` pass; a member's next epoch (and its
    permutation) starts only while it is still searching."""
    members = pack.members
    optimizer = PackedOptimizer(pack.settings, pack.tensors(), pack.stacked.size)
    searching = pack.alive.clone()

    def update() -> bool:
        for i in torch.nonzero(searching).flatten().tolist():
            if members[i].method.feasible:
                searching[i] = False
        return not bool(searching.any())

    for _ in range(int(members[0].method.params["phase1_epochs"])):
        if not bool(searching.any()):
            return
        order = BatchOrder(pack, torch.nonzero(searching).flatten().tolist())
        train_steps(pack, optimizer, pack.settings.lr, order, searching.clone(), stop=update)
        update()


def fit_pmtl(pack: Pack) -> tuple[float, float | None]:
    """Phase 1 (its steps, time and success go to each member's info), then
    ``train.epochs`` of phase 2 with the ``train.checkpoint`` rule (``ParetoMTL.fit``)."""
    start = time.perf_counter()
    for i in pack.live():
        pack.members[i].method.phase = 1
    find_feasible(pack)
    time_phase1 = time.perf_counter() - start
    for i in pack.live():
        pack.members[i].method.phase = 2
    checkpoints = {i: loop.checkpoint_rule(pack.settings) for i in pack.live()}
    run_stage(pack, PackedStage("pmtl", pack.settings.epochs, checkpoints))
    for i in pack.live():
        method = pack.members[i].method
        pack.members[i].info.update({"pmtl_phase1_steps": method.phase1_steps,
                                     "pmtl_phase1_feasible": method.feasible,
                                     "pmtl_phase1_time_s": time_phase1})
    return time.perf_counter() - start, None


def fit_two_phase(pack: Pack) -> tuple[float, float | None]:
    """Phase 1, AP, phase 2 for every member (trainers/methods/two_phase.py)."""
    members, settings = pack.members, pack.settings
    params, p = members[0].method.params, settings.epochs_per_iteration
    m1, m2 = int(params["phase1_iterations"]), int(params["phase2_iterations"])
    start = time.perf_counter()
    pack.to_members(pack.live())
    growl = {i: GrowlPhase(members[i].model, params, m1) for i in pack.live()}
    run_stage(pack, PackedStage(
        "phase1", m1 * p, {i: SparseCheckpoint(params["s_min"]) for i in pack.live()},
        after_epoch=[lambda i, end: growl[i](end)], holds=lambda i: growl[i].pruned))
    start_ap = time.perf_counter()
    plans: dict[int, TyingPlan] = {}
    zero: dict[int, ZeroRows] = {}
    for i in pack.live():
        model = members[i].model
        plan = pack.guard(i, TyingPlan.build, model.eligible_weights(),
                          params["ap_preference"], AP_SEED)
        if plan is not None:
            plans[i], zero[i] = plan, ZeroRows(model.eligible_weights())
    time_ap = time.perf_counter() - start_ap
    time_phase1 = time.perf_counter() - start
    pack.method.restart()
    start_phase2 = time.perf_counter()
    run_stage(pack, PackedStage(
        "phase2", m2 * p, {i: loop.BestValidation() for i in pack.live()},
        after_epoch=[lambda i, end: TieStep(plans[i])(end)], holds=lambda i: zero[i]))
    time_phase2 = time.perf_counter() - start_phase2
    for i in pack.live():
        phase1 = members[i].stages[0]
        members[i].info.update({
            "phase1": {"best_epoch": phase1.best_epoch, "best_val_score": phase1.best_val_score,
                       **phase1.info},
            "time_ap_s": time_ap, "tying": plans[i].summary()})
    return time_phase1, time_phase2
