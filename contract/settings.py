"""The training settings of a trial: the one declaration of their names, types, defaults
and allowed values.

The sweep spec derives its ``train`` section from these fields (orchestrator/spec.py),
the expansion resolves the method's preset, the spec and the search point into one
``TrainSettings``, and the trainers read it. Values are not checked on construction:
the spec checks what a user writes, and a trial given a bad value (an infinite learning
rate) fails the way training fails.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")
#: ``train.precision``: auto picks bf16 where it is native and pays (trainers/precision.py)
PRECISIONS = ("auto", "fp32", "bf16")


def _setting(default: Any, *, gt: float | None = None, ge: float | None = None,
             choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None,
             expected: str | None = None, runtime: bool = False) -> Any:
    """A field with its allowed values: ``gt``/``ge`` bounds for numbers (which must also
    be finite), ``choices`` or a ``pattern`` (with the ``expected`` text) for strings;
    ``runtime`` marks a setting that says where a trial runs, not what it computes."""
    return field(default=default, metadata={"gt": gt, "ge": ge, "choices": choices,
                                            "pattern": pattern, "expected": expected,
                                            "runtime": runtime})


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = _setting(10, gt=0)
    batch_size: int = _setting(128, gt=0)
    eval_batch_size: int = _setting(1024, gt=0)
    lr: float = _setting(1e-3, gt=0)
    #: multiply the learning rate by this after each iteration
    lr_decay: float = _setting(1.0, gt=0)
    #: p: multipliers, penalty and lr move every p epochs
    epochs_per_iteration: int = _setting(1, gt=0)
    optimizer: str = _setting("adam", choices=("adam", "sgd"))
    #: sgd only
    momentum: float = _setting(0.9, ge=0)
    #: which epoch's weights the trial keeps
    checkpoint: str = _setting("best_val", choices=("best_val", "last"))
    #: not part of a trial's identity
    device: str = _setting("auto", pattern=DEVICE_PATTERN,
                           expected="expected auto, cpu, cuda or cuda:N", runtime=True)
    #: arithmetic of the step and evaluation (trainers/precision.py); not part of the
    #: identity, like the device: the trial stores which one ran
    precision: str = _setting("auto", choices=PRECISIONS, runtime=True)
    #: the train split's stored point: a fixed sample of at most 10,000 examples, or all
    eval_train: str = _setting("sample", choices=("sample", "full"), runtime=True)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @classmethod
    def runtime_fields(cls) -> tuple[str, ...]:
        """Settings that do not define a trial (left out of its key)."""
        return tuple(f.name for f in fields(cls) if f.metadata["runtime"])

    @classmethod
    def resolve(cls, *layers: dict[str, Any] | None) -> TrainSettings:
        """Later layers override earlier ones; ``None`` values mean "not set"; an unknown
        name is a ``KeyError`` carrying it."""
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update({k: v for k, v in (layer or {}).items() if v is not None})
        unknown = sorted(set(merged) - cls.field_names())
        if unknown:
            raise KeyError(unknown[0])
        return cls(**merged)

    def to_plain(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_plain(cls, data: dict[str, Any] | None) -> TrainSettings:
        """Settings from a (possibly partial) mapping; missing ones take their defaults."""
        return cls.resolve(data)

    as_dict = to_plain
