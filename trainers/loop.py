"""The training loop: read it top to bottom.

Whole splits live on the device as tensors and are sliced by a seeded permutation, so
there is no per-sample Python and no DataLoader. Every epoch ends with a validation pass;
the checkpoint with the best mean validation accuracy (lowest mean loss for regression)
is the trial's model, as in the MDMTN paper.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from trainers.datasets import Split, Task
from trainers.methods import Method
from trainers.models import MultiTaskNet
from trainers.settings import TrainSettings
from trainers.sparsity import growl_value


def task_loss(logits: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    if task.is_classification:
        return F.cross_entropy(logits, target)
    return F.mse_loss(logits.squeeze(-1), target.float())


def batches(split: Split, size: int, generator: torch.Generator | None) -> Iterator[tuple]:
    """Mini-batches of (x, y); shuffled when a generator is given."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    order = order.to(split.x.device)
    for start in range(0, n, size):
        idx = order[start:start + size]
        yield split.x[idx], split.y[idx]


def sparsity_objective(model: MultiTaskNet, params: dict[str, Any]) -> torch.Tensor:
    weights = [w for _, w in model.eligible_weights()]
    return growl_value(weights, params["beta1"], params["beta2"])


def objective_vector(model: MultiTaskNet, method: Method, tasks: tuple[Task, ...],
                     x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(L0, L1, ..., Lm) of one batch; L0 only carries gradient when k0 > 0."""
    outputs = model(x)
    losses = [task_loss(out, y[:, i], task) for i, (out, task) in enumerate(zip(outputs, tasks))]
    if method.uses_sparsity:
        l0 = sparsity_objective(model, method.params)
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


@torch.no_grad()
def evaluate(model: MultiTaskNet, split: Split, tasks: tuple[Task, ...],
             batch_size: int) -> SplitScores:
    model.eval()
    loss_sums = torch.zeros(len(tasks), dtype=torch.float64)
    correct = torch.zeros(len(tasks), dtype=torch.float64)
    for x, y in batches(split, batch_size, None):
        for i, (out, task) in enumerate(zip(model(x), tasks)):
            target = y[:, i]
            if task.is_classification:
                loss_sums[i] += F.cross_entropy(out, target, reduction="sum").item()
                correct[i] += (out.argmax(dim=1) == target).sum().item()
            else:
                loss_sums[i] += F.mse_loss(out.squeeze(-1), target.float(), reduction="sum").item()
    n = len(split)
    accs = [float(correct[i] / n) if t.is_classification else None for i, t in enumerate(tasks)]
    return SplitScores((loss_sums / n).tolist(), accs, n)


def make_optimizer(settings: TrainSettings, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum)
    raise ValueError(f"unknown optimizer {settings.optimizer!r} (known: adam, sgd)")


@dataclass
class TrainOutcome:
    best_epoch: int
    best_val_score: float
    time_train_s: float
    history: list[dict[str, Any]] = field(default_factory=list)


def train(model: MultiTaskNet, method: Method, tasks: tuple[Task, ...], train_split: Split,
          val_split: Split, settings: TrainSettings, generator: torch.Generator,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainOutcome:
    """Train ``model`` with ``method``; leaves the best-validation weights in ``model``."""
    optimizer = make_optimizer(settings, list(model.parameters()) + method.extra_parameters())
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.lr_decay)
    best_state, best_score, best_epoch = None, float("-inf"), -1
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    for epoch in range(settings.epochs):
        model.train()
        method.begin_epoch()
        for x, y in batches(train_split, settings.batch_size, generator):
            loss = method.scalarize(objective_vector(model, method, tasks, x, y))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if (epoch + 1) % settings.epochs_per_iteration == 0:
            method.end_iteration()
            scheduler.step()
        val = evaluate(model, val_split, tasks, settings.eval_batch_size)
        record = {"epoch": epoch, "val_score": val.selection_score, **method.state()}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if val.selection_score > best_score:  # strict, as in the paper
            best_state = copy.deepcopy(model.state_dict())
            best_score, best_epoch = val.selection_score, epoch
    elapsed = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainOutcome(best_epoch, best_score, elapsed, history)
