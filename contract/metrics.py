"""The metric registry: every figure a stored point carries, and how to read it.

A metric is point-level (one value per point: ``sr``, ``n_params``) or task-level (one per
task of the point, named ``<metric>.<task>``: ``loss.left``). Its direction says whether
fronts minimise or maximise it; a rate lies in [0, 1], so its worst possible value (1 when
minimised, 0 when maximised) is the natural reference point. Every registered metric may
be a front objective. Adding a metric is one ``register`` call here (or in the module that
computes it) and the function that computes it; the store, fronts, reports, plots and the
CLI's help then know it by name.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Direction = Literal["minimise", "maximise"]
Level = Literal["point", "task"]

# metric and task names become SQL view columns (``acc_left``) and dotted objective names
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
NAME_MAX = 50
# columns a loaded point already has beside its metrics: no metric may take these names
RESERVED = frozenset({"point_id", "trial", "key", "method", "dataset", "arch", "seed", "split",
                      "ray_index", "preference", "params", "status", "error", "sweeps"})


@dataclass(frozen=True)
class Metric:
    """One metric: its ``name``, which ``direction`` is better, whether it is a ``rate`` in
    [0, 1], its ``level`` (one value per point, or one per task as ``<name>.<task>``), its
    ``unit``, a one-line ``description`` and whether its values are whole numbers
    (``integer``: counts, which the store refuses as fractions)."""

    name: str
    direction: Direction
    rate: bool
    level: Level
    unit: str
    description: str
    integer: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or len(self.name) > NAME_MAX or not NAME_RE.fullmatch(self.name):
            raise ValueError(f"metric name {self.name!r}: use lowercase letters, digits and '_', "
                             f"starting with a letter, at most {NAME_MAX} characters")
        if self.name in RESERVED:
            raise ValueError(f"metric name {self.name!r} is a column every point has already")
        if self.direction not in ("minimise", "maximise"):
            raise ValueError(f"metric {self.name}: direction must be minimise or maximise, "
                             f"got {self.direction!r}")
        if self.level not in ("point", "task"):
            raise ValueError(f"metric {self.name}: level must be point or task, got {self.level!r}")

    @property
    def maximised(self) -> bool:
        return self.direction == "maximise"

    @property
    def pattern(self) -> str:
        """How objectives name it: ``loss.<task>`` or ``sr``."""
        return f"{self.name}.<task>" if self.level == "task" else self.name


_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric``; a second metric of the same name is refused (an identical one is a no-op)."""
    known = _REGISTRY.get(metric.name)
    if known is not None and known != metric:
        raise ValueError(f"metric {metric.name!r} is already registered as {known}")
    _REGISTRY[metric.name] = metric
    return metric


def unregister(name: str) -> None:
    """Remove a metric (for test fixtures that register one for a while)."""
    _REGISTRY.pop(name, None)


def registered(level: Level | None = None) -> list[Metric]:
    """Registered metrics in registration order, optionally of one level."""
    return [m for m in _REGISTRY.values() if level is None or m.level == level]


def get(name: str) -> Metric:
    """The metric called ``name`` (a bare name, not ``loss.left``); KeyError if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}") from None


def lookup(objective: str) -> tuple[Metric, str | None]:
    """``loss.left`` -> (the loss metric, "left"); ``sr`` -> (the sr metric, None).

    ValueError names the objective and lists the registered patterns when it is no
    registered metric, a task-level metric lacks its task or a point-level one has one.
    """
    name, dot, task = str(objective).partition(".")
    metric = _REGISTRY.get(name)
    if metric is not None:
        if metric.level == "task" and dot and NAME_RE.fullmatch(task) and len(task) <= NAME_MAX:
            return metric, task
        if metric.level == "point" and not dot:
            return metric, None
    raise ValueError(f"unknown objective {objective!r}: use {', '.join(patterns())}")


def is_objective(name: str) -> bool:
    """Whether ``name`` is a registered metric's column name (``acc.left``, ``cr``)."""
    try:
        lookup(name)
    except ValueError:
        return False
    return True


def patterns() -> list[str]:
    """Every metric as objectives name it, task-level first: ``loss.<task>``, ..., ``sr``."""
    return [m.pattern for m in registered("task")] + [m.pattern for m in registered("point")]


def objective_columns(columns: Iterable[str]) -> list[str]:
    """The columns that name a registered metric (so may be objectives), in their order."""
    return [str(c) for c in columns if is_objective(str(c))]


def task_names(columns: Iterable[str]) -> list[str]:
    """Task names of the task-level metric columns, in order of first appearance."""
    tasks: list[str] = []
    for column in columns:
        if is_objective(str(column)):
            task = lookup(str(column))[1]
            if task is not None and task not in tasks:
                tasks.append(task)
    return tasks


def matching(pattern: str, columns: Iterable[str]) -> list[str]:
    """Objective columns a shell-style glob (``mcr.*``) matches, in column order."""
    return [c for c in objective_columns(columns) if fnmatch.fnmatchcase(c, pattern)]


# --------------------------------------------------------------------- the registered metrics
# Task level: one value per task of a point.
LOSS = register(Metric("loss", "minimise", False, "task", "loss",
                       "the task's loss over the split: cross-entropy, BCE, MSE, relaxed DEO or "
                       "the objective itself, by the task's kind"))
ACC = register(Metric("acc", "maximise", True, "task", "fraction",
                      "correct predictions / split size (1 - hard DEO for a fairness task); "
                      "missing for regression"))
MCR = register(Metric("mcr", "minimise", True, "task", "fraction",
                      "misclassification rate, 1 - acc (derived when read, not stored)"))

# Point level: one value per point (model-level figures; rows are input-neuron groups).
for _metric in (
    Metric("sparsity", "minimise", False, "point", "GrOWL value",
           "the GrOWL penalty L0 of the weights, the sparsity objective of WC-AL/MDMTN"),
    Metric("sr", "maximise", True, "point", "fraction",
           "sparsity rate: zero rows / total rows (higher is sparser)"),
    Metric("cr", "maximise", False, "point", "ratio",
           "compression rate: total rows / unique rows (higher stores fewer rows)"),
    Metric("ps", "maximise", False, "point", "ratio",
           "parameter sharing: non-zero rows / unique rows = cr * (1 - sr) (higher shares more)"),
    Metric("sr_scalar", "maximise", True, "point", "fraction",
           "sr over scalar weights: zero weights / total weights"),
    Metric("cr_scalar", "maximise", False, "point", "ratio",
           "cr over scalar weights: total weights / stored weights"),
    Metric("ps_scalar", "maximise", False, "point", "ratio",
           "ps over scalar weights: non-zero weights / stored weights"),
    Metric("rows_total", "minimise", False, "point", "rows", "rows of the weight tensors", True),
    Metric("rows_zero", "maximise", False, "point", "rows", "rows whose entries are all 0", True),
    Metric("rows_unique", "minimise", False, "point", "rows", "distinct rows per layer, summed",
           True),
    Metric("weights_total", "minimise", False, "point", "weights",
           "scalar weights of the tensors that have rows", True),
    Metric("weights_zero", "maximise", False, "point", "weights", "scalar weights equal to 0",
           True),
    Metric("weights_unique", "minimise", False, "point", "weights",
           "scalar weights of the unique non-zero rows (what a pruned, tied layer keeps)", True),
    Metric("n_params", "minimise", False, "point", "parameters", "trainable scalar parameters",
           True),
    Metric("time_train_s", "minimise", False, "point", "s", "training time of the point's trial"),
    Metric("time_eval_s", "minimise", False, "point", "s", "time to evaluate the point"),
):
    register(_metric)
del _metric

#: the point-level metrics every trial reports, in order (metrics registered later, by
#: other modules or fixtures, are not among them)
STANDARD: tuple[str, ...] = tuple(m.name for m in registered("point"))
