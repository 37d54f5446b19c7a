"""The training loop: read it top to bottom.

Whole splits live on the device as tensors and are sliced by a seeded permutation, so
there is no per-sample Python and no DataLoader. Every epoch ends with a validation pass;
the checkpoint with the best mean validation accuracy (lowest mean loss for regression)
is the trial's model, as in the MDMTN paper.

Divergence: the training losses of an epoch are summed on the device (no per-batch sync)
and checked once at the epoch's end, with the method's state (WC-AL's t, lambda, mu); a
NaN or infinite value ends the trial with ``TrainingDiverged`` naming the stage, epoch
and value, so it is recorded as failed and stores no point.

Every epoch's record (stage, epoch, the stage's length, validation score, mean training
loss, per-task validation loss and accuracy where validation is one model's, the hooks'
figures, the method's state) goes to the history and to ``on_epoch`` (live progress);
the time ``on_epoch`` takes is left out of the stage's training time.

A *stage* is a run of epochs with its own optimiser, learning-rate schedule, checkpoint
rule and hooks (after every step, after every epoch). The method adds its own to every
stage (``Method.stage_hooks``: tensors optimised and checkpointed with the weights, hooks
before every epoch and after every iteration; WC-AL's t and multiplier step). The
generic schedule, ``train``, is one stage; a method with its own schedule (WC-AL with
sparsity: phase 1 with the GrOWL prox, Affinity Propagation, phase 2 with tying) chains
stages in ``Method.fit``.

The loop owns the step (``step``): the method gives the mini-batch's loss
(``Method.batch_loss``); zero_grad, backward and the optimiser step are done here. The
step and ``evaluate`` compute on the trial's fast path (trainers/precision.py: bf16
autocast and channels-last, or the plain fp32 computation); optimisers are foreach on the
CPU (exactly the per-parameter loop's arithmetic) and fused on CUDA.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch

from trainers import precision
from trainers.datasets import Split, Task
from trainers.models import MultiTaskNet
from trainers.settings import TrainSettings
from trainers.sparsity import growl_value

if TYPE_CHECKING:  # methods import this module; the loop only needs the type
    from trainers.methods import Method


class TrainingDiverged(RuntimeError):
    """A training loss or a method variable became NaN or infinite; the message names
    the stage, the epoch and the value (a learning rate too large, a bad start value)."""


def non_finite(values: dict[str, Any]) -> tuple[str, Any] | None:
    """The first (name, value) of ``values`` holding a NaN or infinite float (numbers
    and lists of numbers are looked into; anything else is skipped)."""
    for name, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in items):
            return name, value
    return None


def task_loss(logits: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    """Mean loss of one task on a batch; the task's kind defines it (datasets/kinds.py)."""
    return task.loss(logits, target)


def batches(split: Split, size: int, generator: torch.Generator | None) -> Iterator[tuple]:
    """Mini-batches of (x, y); shuffled when a generator is given."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    order = order.to(split.x.device)
    for start in range(0, n, size):
        idx = order[start:start + size]
        yield split.x[idx], split.y[idx]


def sparsity_objective(model: MultiTaskNet, params: dict[str, Any],
                       device: torch.device | None = None) -> torch.Tensor:
    weights = [w for _, w in model.eligible_weights()]
    return growl_value(weights, params["beta1"], params["beta2"], device)


def objective_vector(model: MultiTaskNet, method: "Method", tasks: tuple[Task, ...],
                     x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(L0, L1, ..., Lm) of one batch; L0 only carries gradient when k0 > 0."""
    outputs = model(x)
    losses = [task_loss(out, y[:, i], task) for i, (out, task) in enumerate(zip(outputs, tasks))]
    if method.uses_sparsity:
        l0 = sparsity_objective(model, method.params, x.device)
    else:
        l0 = torch.zeros((), device=x.device)
    return torch.stack([l0, *losses])


@dataclass
class SplitScores:
    """Mean loss and accuracy per task on one split."""

    losses: list[float]
    accs: list[float | None]
    n: int

    @property
    def selection_score(self) -> float:
        """Higher is better: mean accuracy, or minus the mean loss without accuracies."""
        accs = [a for a in self.accs if a is not None]
        if accs:
            return sum(accs) / len(accs)
        return -sum(self.losses) / len(self.losses)


def evaluate(model: MultiTaskNet, split: Split, tasks: tuple[Task, ...],
             batch_size: int) -> SplitScores:
    """Mean loss and accuracy per task on ``split``, in the active fast path's arithmetic
    and layout, without autograd. Sums stay on the device (losses in float64, hits as
    counts) and cross to the host once; in fp32 the figures are exactly those of
    summing each batch's float32 loss on the host."""
    path = precision.current()
    model.eval()
    with torch.inference_mode():
        loss_sums = torch.zeros(len(tasks), dtype=torch.float64, device=split.x.device)
        correct = torch.zeros_like(loss_sums)  # exact: counts stay far below 2**53
        for x, y in batches(split, batch_size, None):
            with path.autocast():
                outputs = model(path.batch(x))
            for i, (out, task) in enumerate(zip(outputs, tasks)):
                out = out.float()  # bf16 logits: the loss and argmax in float32
                loss_sums[i] += task.loss(out, y[:, i], reduction="sum").double()
                hits = task.n_correct(out, y[:, i])
                if hits is not None:
                    correct[i] += hits
        loss_sums, correct = loss_sums.cpu(), correct.cpu()  # the one transfer
    n = len(split)
    accs = [float(correct[i] / n) if t.has_accuracy else None for i, t in enumerate(tasks)]
    return SplitScores((loss_sums / n).tolist(), accs, n)


def optimizer_kernel(params: list[torch.nn.Parameter]) -> dict[str, bool]:
    """Fused kernels where every parameter is on CUDA; elsewhere foreach, which on the CPU
    computes exactly what the per-parameter loop computes."""
    if params and all(p.device.type == "cuda" for p in params):
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(settings: TrainSettings, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    kernel = optimizer_kernel(params)
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr, **kernel)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, **kernel)
    raise ValueError(f"unknown optimizer {settings.optimizer!r} (known: adam, sgd)")


@dataclass
class TrainData:
    """What fitting needs from a data set: its tasks and the train and validation splits."""

    tasks: tuple[Task, ...]
    train: Split
    val: Split


@dataclass
class EpochEnd:
    """What an epoch-end hook sees: where the stage is and the learning rate just used."""

    epoch: int
    iteration: int      # 0-based: epoch // epochs_per_iteration
    lr: float
    n_batches: int


StepHook = Callable[[], None]
EpochHook = Callable[[EpochEnd], "dict[str, Any] | None"]


@dataclass
class StageHooks:
    """What a method adds to every stage it trains in (``Method.stage_hooks``):
    ``parameters`` optimised and checkpointed with the model's, hooks run before every
    epoch and after every iteration (``epochs_per_iteration`` epochs, before the
    learning-rate step)."""

    parameters: list[torch.Tensor] = field(default_factory=list)
    before_epoch: list[StepHook] = field(default_factory=list)
    after_iteration: list[StepHook] = field(default_factory=list)


def snapshot(model: MultiTaskNet, method: "Method") -> tuple:
    """The trainable state: model weights and buffers, plus the method's own variables (t)."""
    return (copy.deepcopy(model.state_dict()),
            [p.detach().clone() for p in method.stage_hooks().parameters])


@torch.no_grad()
def load_snapshot(model: MultiTaskNet, method: "Method", state: tuple) -> None:
    model.load_state_dict(state[0])
    for param, value in zip(method.stage_hooks().parameters, state[1]):
        param.copy_(value)


class BestValidation:
    """Checkpoint rule: the epoch with the best validation score (strict >, as in the paper)."""

    def __init__(self) -> None:
        self.score, self.epoch, self.state = float("-inf"), -1, None

    def consider(self, model: MultiTaskNet, method: "Method", record: dict[str, Any]) -> None:
        if record["val_score"] > self.score:
            self.score, self.epoch = record["val_score"], record["epoch"]
            self.state = snapshot(model, method)

    def restore(self, model: MultiTaskNet, method: "Method") -> dict[str, Any]:
        """Load the kept weights; returns what was chosen."""
        if self.state is not None:
            load_snapshot(model, method, self.state)
        return {"best_epoch": self.epoch, "best_val_score": self.score}


class LastEpoch:
    """Checkpoint rule: the weights of the last epoch (Pareto MTL's protocol; closed-form
    problems, where "validation" is the training objective and the best-score epoch of a
    concave front would be biased towards its ends)."""

    def __init__(self) -> None:
        self.score, self.epoch = float("-inf"), -1

    def consider(self, model: MultiTaskNet, method: "Method", record: dict[str, Any]) -> None:
        self.score, self.epoch = record["val_score"], record["epoch"]

    def restore(self, model: MultiTaskNet, method: "Method") -> dict[str, Any]:
        return {"best_epoch": self.epoch, "best_val_score": self.score}


#: ``train.checkpoint`` values: which epoch of a stage becomes the trial's model
CHECKPOINT_RULES: dict[str, Callable[[], Any]] = {"best_val": BestValidation, "last": LastEpoch}


def checkpoint_rule(settings: TrainSettings) -> Any:
    """A fresh checkpoint rule as ``settings.checkpoint`` names it."""
    try:
        return CHECKPOINT_RULES[settings.checkpoint]()
    except KeyError:
        known = ", ".join(CHECKPOINT_RULES)
        raise ValueError(f"unknown checkpoint rule {settings.checkpoint!r} (known: {known})") from None


@dataclass
class Stage:
    """A run of epochs with one optimiser, one learning-rate schedule and one checkpoint
    rule. ``before_update`` hooks run between the backward pass and the optimiser step
    (KDMTL's adaptor optimiser); ``after_step`` hooks after every optimiser step (e.g.
    hold pruned rows at zero); ``after_epoch`` hooks after the last batch and before validation (e.g. the
    GrOWL prox, tying) and may return figures for the epoch's record."""

    name: str
    epochs: int
    after_step: list[StepHook] = field(default_factory=list)
    before_update: list[StepHook] = field(default_factory=list)
    after_epoch: list[EpochHook] = field(default_factory=list)
    checkpoint: Any = field(default_factory=BestValidation)


@dataclass
class StageOutcome:
    name: str
    best_epoch: int
    best_val_score: float
    time_s: float
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class FitOutcome:
    """A whole schedule: its stages, and the time of phase 1 (everything before
    retraining, or the single stage) and of phase 2 (retraining; None without one)."""

    stages: list[StageOutcome]
    time_phase1_s: float
    time_phase2_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def best_epoch(self) -> int:
        return self.stages[-1].best_epoch

    @property
    def best_val_score(self) -> float:
        return self.stages[-1].best_val_score

    @property
    def time_train_s(self) -> float:
        return self.time_phase1_s + (self.time_phase2_s or 0.0)

    @property
    def history(self) -> list[dict[str, Any]]:
        return [record for stage in self.stages for record in stage.history]


def step(model: MultiTaskNet, method: "Method", tasks: tuple[Task, ...], x: torch.Tensor,
         y: torch.Tensor, optimizer: torch.optim.Optimizer,
         before_update: list[StepHook] | tuple = ()) -> torch.Tensor | None:
    """One optimiser step on one mini-batch: the method's loss, zero_grad, backward, the
    ``before_update`` hooks, the optimiser's step. Returns the loss, detached, for the
    divergence check; a loss without graph (or None) takes no step. The forward pass runs
    in the active fast path (``trainers.precision``: bf16 autocast, channels-last
    batches); backward and the update in float32; nothing waits for the device."""
    path = precision.current()
    with path.autocast():
        loss = method.batch_loss(model, tasks, path.batch(x), y)
    if loss is None or not loss.requires_grad:
        return loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for hook in before_update:
        hook()
    optimizer.step()
    return loss.detach()


def train_epoch(model: MultiTaskNet, method: "Method", data: TrainData, settings: TrainSettings,
                optimizer: torch.optim.Optimizer, generator: torch.Generator,
                stage: Stage) -> tuple[int, torch.Tensor]:
    """One pass over the shuffled training split; returns the number of batches and the
    sum of the steps' training losses (a device tensor: summing never waits for it)."""
    model.train()
    n_batches = 0
    loss_sum = torch.zeros((), device=data.train.x.device)
    for x, y in batches(data.train, settings.batch_size, generator):
        loss = step(model, method, data.tasks, x, y, optimizer, stage.before_update)
        if loss is not None:
            loss_sum = loss_sum + loss.detach().to(loss_sum)
        for hook in stage.after_step:
            hook()
        n_batches += 1
    return n_batches, loss_sum


def check_finite(stage: str, epoch: int, loss_sum: torch.Tensor, state: dict[str, Any]) -> None:
    """Raise TrainingDiverged when the epoch's loss sum or the method's state is NaN or
    infinite (one device sync per epoch)."""
    total = float(loss_sum)
    if not math.isfinite(total):
        raise TrainingDiverged(f"training diverged in stage {stage}, epoch {epoch}: "
                               f"the training loss is {total}")
    bad = non_finite(state)
    if bad is not None:
        raise TrainingDiverged(f"training diverged in stage {stage}, epoch {epoch}: "
                               f"method state {bad[0]} = {bad[1]}")


def validation_tasks(scores: SplitScores | None, tasks: tuple[Task, ...]) -> dict[str, Any]:
    """The epoch record's per-task validation loss and accuracy (``val_loss``, ``val_acc``:
    task -> value), what a live front point is made of; empty when the validation pass was
    not one model's (a front learner averages several rays)."""
    if scores is None:
        return {}
    return {"val_loss": {t.name: loss for t, loss in zip(tasks, scores.losses)},
            "val_acc": {t.name: acc for t, acc in zip(tasks, scores.accs)}}


def epoch_record(stage: str, epoch: int, stage_epochs: int, val_score: float,
                 loss_sum: float, n_batches: int, method: "Method", tasks: tuple[Task, ...],
                 figures: dict[str, Any]) -> dict[str, Any]:
    """One epoch's record, as the history keeps it and ``on_epoch`` sees it; the packed
    loop (trainers/packing/loop.py) builds its members' with this too, so they match."""
    return {"stage": stage, "epoch": epoch, "stage_epochs": stage_epochs,
            "val_score": val_score, "train_loss": loss_sum / max(n_batches, 1),
            **validation_tasks(method.val_scores, tasks), **figures, **method.state()}


def run_stage(model: MultiTaskNet, method: "Method", data: TrainData, settings: TrainSettings,
              stage: Stage, generator: torch.Generator,
              on_epoch: Callable[[dict[str, Any]], None] | None = None) -> StageOutcome:
    """Train one stage, with the method's ``stage_hooks``; leaves the stage's checkpoint
    (by its rule) in ``model``."""
    hooks = method.stage_hooks()
    optimizer = make_optimizer(settings, list(model.parameters()) + hooks.parameters)
    scheduler = method.lr_scheduler(optimizer, settings)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    for epoch in range(stage.epochs):
        lr = optimizer.param_groups[0]["lr"]
        for hook in hooks.before_epoch:
            hook()
        n_batches, loss_sum = train_epoch(model, method, data, settings, optimizer, generator,
                                          stage)
        end = EpochEnd(epoch, epoch // settings.epochs_per_iteration, lr, n_batches)
        figures: dict[str, Any] = {}
        for hook in stage.after_epoch:
            figures.update(hook(end) or {})
        if (epoch + 1) % settings.epochs_per_iteration == 0:
            for hook in hooks.after_iteration:
                hook()
            scheduler.step()
        check_finite(stage.name, epoch, loss_sum, method.state())
        method.val_scores = None  # set again by a validation pass of one model
        val_score = method.validation_score(model, data.val, data.tasks,
                                            settings.eval_batch_size)
        record = epoch_record(stage.name, epoch, stage.epochs, val_score, float(loss_sum),
                              n_batches, method, data.tasks, figures)
        history.append(record)
        if on_epoch is not None:
            reported = time.perf_counter()
            on_epoch(record)
            start += time.perf_counter() - reported  # reporting progress is not training
        stage.checkpoint.consider(model, method, record)
    elapsed = time.perf_counter() - start
    info = stage.checkpoint.restore(model, method)
    return StageOutcome(stage.name, info.pop("best_epoch"), info.pop("best_val_score"),
                        elapsed, history, info)


def train(model: MultiTaskNet, method: "Method", data: TrainData, settings: TrainSettings,
          generator: torch.Generator,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> FitOutcome:
    """The generic schedule (``Method.fit``'s default): the method's ``initialise``
    (LSUV), then one stage of ``settings.epochs`` epochs keeping the weights the method's
    ``checkpoint`` rule chooses (``settings.checkpoint``: best validation by default)."""
    start = time.perf_counter()
    method.initialise(model, data, settings, generator)
    time_init = time.perf_counter() - start
    stage = run_stage(model, method, data, settings,
                      Stage("train", settings.epochs, checkpoint=method.checkpoint(model, settings)),
                      generator, on_epoch)
    return FitOutcome([stage], time_phase1_s=stage.time_s + time_init, info=dict(stage.info))
