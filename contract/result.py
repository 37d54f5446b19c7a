"""What a trial returns: its evaluated points and its run's facts.

A ``Point`` is one split of the trained model under one evaluation ray: per-task
(loss, accuracy) and model-level metrics. In the plain form the model-level figures
named in ``TOP_LEVEL_METRICS`` sit beside ``metrics`` (where the trainers have always
put them); in the class they are metrics like any other. Values are kept as given
(a NaN stays a NaN): the store decides what it keeps (NaN becomes NULL).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.plain import ContractError, join, mapping, plain_copy

SPLITS = ("train", "val", "test")
#: model-level figures a plain point may give beside its ``metrics`` mapping
TOP_LEVEL_METRICS = ("sparsity", "n_params")


@dataclass(frozen=True)
class Point:
    split: str
    ray_index: int = 0
    preference: tuple[float, ...] | None = None
    #: task name -> (loss, accuracy)
    tasks: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    #: metric name -> value (see contract.metrics)
    metrics: dict[str, Any] = field(default_factory=dict)
    time_train_s: float | None = None
    time_eval_s: float | None = None

    @property
    def n_params(self) -> int | None:
        return self.metrics.get("n_params")

    def to_plain(self) -> dict[str, Any]:
        top = {name: self.metrics[name] for name in TOP_LEVEL_METRICS if name in self.metrics}
        return {
            "split": self.split, "ray_index": self.ray_index,
            "preference": None if self.preference is None else list(self.preference),
            **top,
            "metrics": {k: v for k, v in self.metrics.items() if k not in TOP_LEVEL_METRICS},
            "tasks": {name: {"loss": loss, "acc": acc} for name, (loss, acc) in self.tasks.items()},
            "time_train_s": self.time_train_s, "time_eval_s": self.time_eval_s,
        }

    @classmethod
    def from_plain(cls, data: Any, field_: str = "") -> Point:
        data = mapping(data, field_)
        split = data.get("split")
        if split not in SPLITS:
            raise ContractError(join(field_, "split"),
                                f"expected one of {', '.join(SPLITS)}, got {split!r}")
        preference = data.get("preference")
        return cls(
            split=split, ray_index=0 if data.get("ray_index") is None else data["ray_index"],
            preference=(preference if preference is None or not isinstance(preference, list | tuple)
                        else tuple(plain_copy(list(preference)))),
            tasks=_tasks(data.get("tasks", {}), join(field_, "tasks")),
            metrics=_metrics(data, field_),
            time_train_s=data.get("time_train_s"), time_eval_s=data.get("time_eval_s"))


def _tasks(tasks: Any, field_: str) -> dict[str, tuple[Any, Any]]:
    tasks = mapping(tasks, field_, "expected a mapping of task name to loss/acc")
    out = {}
    for name, scores in tasks.items():
        scores = mapping(scores, join(field_, str(name)), "expected a mapping with 'loss'/'acc'")
        out[name] = (scores.get("loss"), scores.get("acc"))
    return out


def _metrics(point: Any, field_: str) -> dict[str, Any]:
    """The point's ``metrics`` plus its top-level model figures (never both)."""
    metrics = dict(mapping(point.get("metrics") or {}, join(field_, "metrics")))
    for name in TOP_LEVEL_METRICS:
        if name in point:
            if name in metrics:
                raise ContractError(join(field_, name), "given both at the top level and in metrics")
            metrics[name] = point[name]
    return plain_copy(metrics)


@dataclass(frozen=True)
class TrialResult:
    points: tuple[Point, ...]
    time_train_s: float | None = None
    #: everything before retraining, or the whole single stage
    time_phase1_s: float | None = None
    #: the retraining phase, None without one
    time_phase2_s: float | None = None
    device: str | None = None
    #: the arithmetic that ran: 'fp32' or 'bf16' (trainers/precision.py)
    precision: str | None = None
    #: versions that can change results (trainers.trial.versions)
    versions: dict[str, Any] | None = None
    #: the method's state, training history and whatever else it reports
    info: dict[str, Any] | None = None

    def to_plain(self) -> dict[str, Any]:
        return {"points": [p.to_plain() for p in self.points],
                "time_train_s": self.time_train_s, "time_phase1_s": self.time_phase1_s,
                "time_phase2_s": self.time_phase2_s, "device": self.device,
                "precision": self.precision, "versions": plain_copy(self.versions),
                "info": plain_copy(self.info)}

    @classmethod
    def from_plain(cls, data: Any) -> TrialResult:
        data = mapping(data, "", "expected a mapping with 'points'")
        points = data.get("points")
        if not isinstance(points, list | tuple):
            raise ContractError("", "'points' must be a list")
        return cls(
            points=tuple(Point.from_plain(p, f"points[{i}]") for i, p in enumerate(points)),
            time_train_s=data.get("time_train_s"), time_phase1_s=data.get("time_phase1_s"),
            time_phase2_s=data.get("time_phase2_s"), device=data.get("device"),
            precision=data.get("precision"), versions=plain_copy(data.get("versions")),
            info=plain_copy(data.get("info")))


@dataclass(frozen=True)
class Artifact:
    """A trial's saved model as the store records it: the file, its size and SHA-256."""

    path: str
    bytes: int
    sha256: str
