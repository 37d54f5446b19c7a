"""The packed training loop: trainers/loop.py's stage, epoch and step over K members.

Every member keeps what makes it its own trial: its batch order (its own generator, one
permutation per epoch, drawn exactly where the unpacked loop draws it), its optimiser
state (trainers/packing/optim.py), its checkpoint rule, history (epoch records built as
unpacked, ``loop.epoch_record``), divergence check and per-member hooks (the GrOWL prox,
tying; run on its plain network). What the members share is the lock-step: the same
number of batches per epoch, the same stage lengths and learning-rate schedule, and one
batched forward and backward per step (on the CPU, for convolutional networks and the
scalarising methods, each member's own forward and backward, then one batched update).

A member that fails (a non-finite loss or state at an epoch's end, or an error in one of
its own hooks) is frozen: it takes no further step, its hooks no longer run, and the
others go on. Validation is one batched forward for all live members where that pays
(``batch_evaluation``), else each member's own pass on the trial's fast path. Members
that share a seed share their batches (one gather, one input for every member); members
with different seeds each get their own (one vmap, or loop, per seed).
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from trainers import loop, precision
from trainers.growl import ZeroRows
from trainers.methods import Method
from trainers.models import MultiTaskNet
from trainers.packing.methods import PackedMethod
from trainers.packing.optim import LearningRate, PackedOptimizer
from trainers.packing.stacked import StackedModel
from trainers.settings import TrainSettings


def error_text(exc: BaseException) -> str:
    """One line as the unpacked trial's failure report writes it (``Type: message``)."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


@dataclass
class Member:
    """One trial of the pack: its method object, plain network and batch-order generator."""

    method: Method
    model: MultiTaskNet
    generator: torch.Generator
    stages: list[loop.StageOutcome] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Pack:
    """The members, their stacked networks and batched method state, and who is alive."""

    def __init__(self, members: list[Member], stacked: StackedModel, method: PackedMethod,
                 data: loop.TrainData, settings: TrainSettings,
                 on_epoch: Callable[[int, dict[str, Any]], None] | None = None) -> None:
        self.members, self.stacked, self.method = members, stacked, method
        self.data, self.settings, self.on_epoch = data, settings, on_epoch
        self.alive = torch.ones(len(members), dtype=torch.bool)
        #: whether evaluation runs as one batched forward where the methods allow it
        #: (``batched_evaluation``); else member by member on the trial's fast path
        self.batch_evaluation = batch_evaluation(members[0].model, data.val.x.device)

    def live(self) -> list[int]:
        return torch.nonzero(self.alive).flatten().tolist()

    def fail(self, i: int, exc: BaseException) -> None:
        self.members[i].error = error_text(exc)
        self.alive[i] = False

    def guard(self, i: int, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` for member i; an error fails that member alone."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - recorded as the member's failure
            self.fail(i, exc)
            return None

    def tensors(self) -> list[torch.Tensor]:
        """What the optimiser trains: the stacked weights and method variables."""
        return self.stacked.leaves() + self.method.stage_hooks().parameters

    def to_members(self, which: list[int]) -> None:
        self.stacked.to_members(which)
        self.method.to_members(which)

    def from_members(self, which: list[int]) -> None:
        self.stacked.from_members(which)
        self.method.from_members(which)


class StackedZeroRows:
    """Every member's rows held at zero (trainers/growl.py ``ZeroRows``), as one mask per
    stacked weight: one masked fill per layer and step for the whole pack."""

    def __init__(self, stacked: StackedModel, rows: dict[int, ZeroRows]) -> None:
        self.stacked = stacked
        self.masks: dict[str, torch.Tensor] = {}
        for i, zero in rows.items():
            for name, (_, mask) in zero.masks.items():
                if name not in self.masks:
                    self.masks[name] = torch.zeros((stacked.size, *mask.shape), dtype=torch.bool,
                                                   device=mask.device)
                self.masks[name][i] = mask

    @torch.no_grad()
    def hold(self) -> None:
        for name, mask in self.masks.items():
            self.stacked.params[name].masked_fill_(mask, 0.0)


@dataclass
class PackedStage:
    """``loop.Stage`` for a pack: per-member checkpoint rules and epoch-end hooks
    (``after_epoch(i, end)`` on member i's plain network), and per member the rows to
    hold at zero after every step (``holds(i)``, read again after every epoch end)."""

    name: str
    epochs: int
    checkpoints: dict[int, Any]
    after_epoch: list[Callable[[int, loop.EpochEnd], dict[str, Any] | None]] = field(
        default_factory=list)
    holds: Callable[[int], ZeroRows | None] | None = None


class BatchOrder:
    """Each member's permutation of the training split for one epoch, drawn from its
    own generator (``loop.batches``); members whose permutations agree (same seed) form
    one group that shares its batches."""

    def __init__(self, pack: Pack, drawing: list[int]) -> None:
        n = len(pack.data.train)
        device = pack.data.train.x.device
        orders = {i: torch.randperm(n, generator=pack.members[i].generator) for i in drawing}
        groups: list[tuple[list[int], torch.Tensor]] = []
        for i in range(len(pack.members)):
            order = orders.get(i, orders[drawing[0]])   # a member not drawing follows along
            for members, seen in groups:
                if torch.equal(order, seen):
                    members.append(i)
                    break
            else:
                groups.append(([i], order))
        self.groups = [(None if len(groups) == 1 else torch.tensor(members, device=device),
                        order.to(device)) for members, order in groups]
        #: each group's members on the host, for the member-by-member step
        self.members = [members for members, _ in groups]
        self.split, self.n = pack.data.train, n

    def batches(self, size: int):
        """Per step, (members, x, y) for each group (``StackedModel.objectives``)."""
        split = self.split
        for start in range(0, self.n, size):
            yield [(members, split.x[order[start:start + size]], split.y[order[start:start + size]])
                   for members, order in self.groups]


def train_steps(pack: Pack, optimizer: PackedOptimizer, lr: float, order: BatchOrder,
                active: torch.Tensor, after_step: Callable[[], None] | None = None,
                stop: Callable[[], bool] | None = None) -> tuple[int, torch.Tensor]:
    """One epoch of lock-step batches for the ``active`` members (``stop`` ends it early);
    returns the number of batches and each member's sum of training losses."""
    tensors = pack.tensors()
    device = pack.data.train.x.device
    loss_sum = torch.zeros(pack.stacked.size, device=device)
    masks: dict[tuple[bool, ...], torch.Tensor] = {}

    def on_device(mask: torch.Tensor) -> torch.Tensor:
        """The (CPU) member mask on the device, copied once per distinct value."""
        key = tuple(mask.tolist())
        if key not in masks:
            masks[key] = mask.to(device)
        return masks[key]

    alone = pack.stacked.alone and pack.method.alone
    n_batches = 0
    for groups in order.batches(pack.settings.batch_size):
        if alone:
            grads, report = pack.method.member_steps(groups, order.members, active)
        else:
            step = pack.method.losses(groups, active)
        for i, exc in pack.method.failed.items():
            pack.fail(i, exc)
            active[i] = False
        pack.method.failed.clear()
        if alone:
            # every active member stepped on its own loss, as unpacked
            optimizer.step(grads, lr, active)
            loss_sum = loss_sum + torch.where(on_device(active), report, torch.zeros_like(report))
        elif step.loss is not None:
            stepping = step.stepping & active
            total = torch.where(on_device(stepping), step.loss, torch.zeros_like(step.loss)).sum()
            grads = torch.autograd.grad(total, tensors, allow_unused=True)
            optimizer.step(list(grads), lr, stepping)
        if not alone:
            loss_sum = loss_sum + torch.where(on_device(step.reported), step.report.to(loss_sum),
                                              torch.zeros_like(loss_sum))
        if after_step is not None:
            after_step()
        n_batches += 1
        if stop is not None and stop():
            break
    return n_batches, loss_sum


def batch_evaluation(model: MultiTaskNet, device: torch.device) -> bool:
    """Whether one vmapped forward evaluates the pack faster than its members one by one:
    on CUDA (one kernel per layer instead of K), and on the CPU for networks without 2-D
    convolutions (the fairness MLP: 8 members on 512 rows 2.1 ms against 7.5 ms). Under
    vmap the CPU's convolutions run grouped and their activations are copied between
    layouts, which measured 1.5-4x *slower* than the members' own passes (LeNet and HPS,
    8 members, fp32 and bf16), and the members' own passes get the bf16 channels-last path."""
    return device.type == "cuda" or not precision.has_conv2d(model)


def batched_evaluation(method: Method) -> bool:
    """Whether the member's validation score and evaluation are ``loop.evaluate`` of its
    one network (``Method``'s own, no ray to condition on), so the pack can batch them."""
    cls = type(method)
    return (cls.validation_score is Method.validation_score and cls.eval_rays is Method.eval_rays
            and cls.condition is Method.condition)


def validate(pack: Pack) -> dict[int, loop.SplitScores]:
    """The live members' validation scores as one batched forward (``StackedModel.scores``
    on the stacked weights, which equal their plain networks here), for the members whose
    method allows it; the others (and all, should the batched pass fail) are validated
    member by member by the caller."""
    which = [i for i in pack.live() if batched_evaluation(pack.members[i].method)]
    if not which or not pack.batch_evaluation:
        return {}
    data, settings = pack.data, pack.settings
    try:
        scores = pack.stacked.scores(which, data.val, data.tasks, settings.eval_batch_size)
    except Exception:  # noqa: BLE001 - each member then validates alone, failing alone
        return {}
    return dict(zip(which, scores))


def run_stage(pack: Pack, stage: PackedStage) -> None:
    """``loop.run_stage`` for every live member; appends each one's StageOutcome and
    leaves its checkpoint in its network (plain and stacked)."""
    settings, data = pack.settings, pack.data
    members = pack.members
    optimizer = PackedOptimizer(settings, pack.tensors(), pack.stacked.size)
    schedule = LearningRate(settings)
    hooks = pack.method.stage_hooks()
    histories: dict[int, list[dict[str, Any]]] = {i: [] for i in pack.live()}
    hold = StackedZeroRows(pack.stacked, {i: stage.holds(i) for i in pack.live()}) \
        if stage.holds else None
    start = time.perf_counter()
    for epoch in range(stage.epochs):
        live = pack.live()
        if not live:
            break
        lr = schedule.value
        for hook in hooks.before_epoch:
            hook()
        order = BatchOrder(pack, live)
        n_batches, loss_sum = train_steps(pack, optimizer, lr, order, pack.alive.clone(),
                                          hold.hold if hold else None)
        end = loop.EpochEnd(epoch, epoch // settings.epochs_per_iteration, lr, n_batches)
        pack.to_members(live)
        figures: dict[int, dict[str, Any]] = {i: {} for i in live}
        for hook in stage.after_epoch:
            for i in pack.live():
                figures[i].update(pack.guard(i, hook, i, end) or {})
        pack.stacked.from_members(pack.live())
        if stage.holds:
            hold = StackedZeroRows(pack.stacked, {i: stage.holds(i) for i in pack.live()})
        if (epoch + 1) % settings.epochs_per_iteration == 0:
            for hook in hooks.after_iteration:
                hook()
            schedule.step()
        pack.method.to_members(pack.live())
        sums = loss_sum.tolist()   # one device sync per epoch, as unpacked
        for i in pack.live():
            pack.guard(i, loop.check_finite, stage.name, epoch, torch.tensor(sums[i]),
                       members[i].method.state())
        for i in pack.live():
            members[i].method.val_scores = None  # set again by a validation pass of one model
        scores = validate(pack)
        for i in pack.live():
            method, model = members[i].method, members[i].model
            if i in scores:
                method.val_scores = scores[i]
                val_score = scores[i].selection_score
            else:
                val_score = pack.guard(i, method.validation_score, model, data.val, data.tasks,
                                       settings.eval_batch_size)
            if not pack.alive[i]:
                continue
            record = loop.epoch_record(stage.name, epoch, stage.epochs, val_score, sums[i],
                                       n_batches, method, data.tasks, figures[i])
            histories[i].append(record)
            if pack.on_epoch is not None:
                reported = time.perf_counter()
                pack.on_epoch(i, record)
                start += time.perf_counter() - reported  # reporting progress is not training
            pack.guard(i, stage.checkpoints[i].consider, model, method, record)
    elapsed = time.perf_counter() - start
    for i in pack.live():
        info = pack.guard(i, stage.checkpoints[i].restore, members[i].model, members[i].method)
        if info is None:
            continue
        members[i].stages.append(loop.StageOutcome(
            stage.name, info.pop("best_epoch"), info.pop("best_val_score"), elapsed,
            histories[i], info))
    pack.from_members(pack.live())
