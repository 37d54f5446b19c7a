"""Task kinds: how one task's output and target become a loss and a hit count.

A task's ``kind`` names an entry here, so the training loop never branches on kinds: it
asks the task for ``loss(output, target)`` (mean over the batch while training,
``reduction="sum"`` while evaluating, divided by the split size afterwards) and for
``n_correct`` (``None`` where accuracy means nothing). A new kind is one class here.

- ``classification``: ``output`` (B, C) logits, ``target`` (B,) int64 class ids;
  cross-entropy, hits = argmax matches.
- ``regression``: ``output`` (B, 1), ``target`` (B,) float; mean squared error.
- ``objective``: the output *is* the objective value (a synthetic problem whose
  "network" is the decision vector itself, trainers/models/direct.py); the target is
  ignored, the loss is the output.
- ``binary``: ``output`` (B, 1) one logit, ``target`` (B,) in {0, 1}; BCE with logits,
  hits = (logit > 0) matches (the fairness data sets, docs/metrics.md#deo).
- ``fairness``: ``output`` (B, 1) the *label task's* logit, ``target`` (B,) the sensitive
  group (0/1) of a positive sample and -1 for a negative one. The loss is the relaxed
  DEO of docs/metrics.md#deo (the training objective), |sum_{a=0,y=1} tanh(s) -
  sum_{a=1,y=1} tanh(s)| / n with s = sigmoid(logit) (the code's tanh of ReLU of the
  sigmoid; the ReLU is a no-op) and n the batch size, negatives included. The *hard* DEO,
  |#(a=1, y=1, logit > 0) - #(a=0, y=1, logit > 0)| / n (the score the papers' HV and
  plots use), is reported through the accuracy slot: hits = n - |count gap|, so the
  stored ``acc`` is 1 - hard DEO and ``mcr.<task>`` *is* the hard DEO. (A checkpoint
  rule that averages accuracies therefore weighs 1 - DEO like the label's accuracy.)
  The absolute values make both non-additive over batches: a split's value is the
  batch-size-weighted mean of per-batch values. The fairness data sets evaluate a split
  in one batch (their ``eval_batch_size``), so stored values are exact data-set-level
  figures, the choice docs/metrics.md#dataset-level-scores recommends; the papers average
  per-batch values.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trainers.registry import Registry


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-sample losses to the mean or the sum; anything else is a programming error."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


class TaskKind:
    """Loss and accuracy of one kind of task; subclasses override both."""

    has_accuracy = False

    def loss(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} must define loss")

    def n_correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        return None


TASK_KINDS: Registry[TaskKind] = Registry("task kind")


class Classification(TaskKind):
    has_accuracy = True

    def loss(self, output, target, reduction):
        return F.cross_entropy(output, target, reduction=reduction)

    def n_correct(self, output, target):
        return (output.argmax(dim=1) == target).sum()


class Regression(TaskKind):
    def loss(self, output, target, reduction):
        return F.mse_loss(output.reshape(-1), target.float(), reduction=reduction)


class Objective(TaskKind):
    def loss(self, output, target, reduction):
        return reduce(output.reshape(-1), reduction)


class Binary(TaskKind):
    has_accuracy = True

    def loss(self, output, target, reduction):
        return F.binary_cross_entropy_with_logits(output.reshape(-1), target.float(),
                                                  reduction=reduction)

    def n_correct(self, output, target):
        return ((output.reshape(-1) > 0).long() == target).sum()


def relaxed_deo(logit: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Relaxed DEO of one batch: tanh(relu(sigmoid)) summed per group of the positives."""
    score = torch.tanh(torch.relu(torch.sigmoid(logit.reshape(-1))))
    # masked sums, not score[group == 0]: boolean indexing makes a GPU step wait for the host
    gap = torch.where(group == 0, score, 0).sum() - torch.where(group == 1, score, 0).sum()
    return gap.abs() / max(1, group.numel())


def deo_count_gap(logit: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """|#(a=1, y=1, logit>0) - #(a=0, y=1, logit>0)|: positive predictions among the true
    positives of each group (counts, not rates, as in the papers' code)."""
    predicted = logit.reshape(-1) > 0
    return ((predicted & (group == 1)).sum() - (predicted & (group == 0)).sum()).abs()


def hard_deo(logit: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """The papers' DEO score: the count gap divided by the batch size n."""
    return deo_count_gap(logit, group).float() / max(1, group.numel())


class Fairness(TaskKind):
    has_accuracy = True  # "accuracy" = 1 - hard DEO (module docstring)

    def loss(self, output, target, reduction):
        value = relaxed_deo(output, target)
        return reduce(value.expand(target.numel()), reduction)  # sum = n x the batch value

    def n_correct(self, output, target):
        """n - count gap, so that hits / n = 1 - hard DEO."""
        return target.numel() - deo_count_gap(output, target)


TASK_KINDS.register("classification")(Classification())
TASK_KINDS.register("regression")(Regression())
TASK_KINDS.register("objective")(Objective())
TASK_KINDS.register("binary")(Binary())
TASK_KINDS.register("fairness")(Fairness())
