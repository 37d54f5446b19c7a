"""What every dataset hands to a trainer: whole splits as tensors, plus task metadata.

Trainers take batches of tensors, never per-sample Dataset objects: a split is loaded
once, kept in memory (on the training device), and sliced by index.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Task:
    """One task of a multi-task dataset. Names are SQL-safe identifiers (``left``)."""

    name: str
    kind: str = "classification"  # or "regression"
    n_classes: int | None = 10

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"


@dataclass
class Split:
    """A whole split: inputs ``x`` (N, ...) and targets ``y`` (N, n_tasks)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class DatasetBundle:
    """A built dataset: its tasks, input shape and the train/val/test splits."""

    name: str
    tasks: tuple[Task, ...]
    input_shape: tuple[int, ...]
    splits: dict[str, Split]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]


class DatasetSource(ABC):
    """Base class of a registered dataset.

    Subclasses set the class attributes and implement :meth:`build`. ``options`` are the
    extra keys a sweep may give (``{name: multidigits, n_train: 2000}``); their defaults
    live in ``default_options`` so that validation can reject unknown ones.
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[Task, ...]]
    input_shape: ClassVar[tuple[int, ...]] = ()
    default_arch: ClassVar[str]
    default_options: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""
    # Training settings the dataset's papers use (epochs, batch_size, lr, ...).
    train_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def input_shape_for(cls, options: dict[str, Any]) -> tuple[int, ...]:
        """Input shape of one sample; datasets whose shape depends on options override it."""
        return cls.input_shape

    @classmethod
    def resolve_options(cls, options: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``options``; unknown keys raise ``KeyError(name)``."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(cls.default_options))
        if unknown:
            raise KeyError(unknown[0])
        return {**cls.default_options, **options}

    @classmethod
    @abstractmethod
    def build(cls, options: dict[str, Any], data_dir: Path | None = None) -> DatasetBundle:
        """Build (or load from cache) the dataset with resolved ``options``."""
