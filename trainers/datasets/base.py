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

from contract.result import SPLITS  # noqa: F401 - re-exported
from trainers.datasets.kinds import TASK_KINDS, TaskKind
from trainers.datasets.progress import Progress
from trainers.errors import DataError
from trainers.options import OptionError, OptionTable, defaults, resolve



@dataclass(frozen=True)
class Task:
    """One task of a multi-task dataset. Names are SQL-safe identifiers (``left``)."""

    name: str
    kind: str = "classification"  # a trainers.datasets.kinds.TASK_KINDS name
    n_classes: int | None = 10

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    @property
    def kind_rules(self) -> TaskKind:
        return TASK_KINDS.get(self.kind)

    @property
    def has_accuracy(self) -> bool:
        return self.kind_rules.has_accuracy

    def loss(self, output: torch.Tensor, target: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
        """This task's loss on a batch (see trainers/datasets/kinds.py)."""
        return self.kind_rules.loss(output, target, reduction)

    def n_correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """Correct predictions in a batch, or ``None`` for kinds without accuracy."""
        return self.kind_rules.n_correct(output, target)


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

    def to(self, device: torch.device | str) -> "DatasetBundle":
        """The same data set with its splits on ``device`` (no copy where they are)."""
        splits = {name: split.to(device) for name, split in self.splits.items()}
        return DatasetBundle(self.name, self.tasks, self.input_shape, splits, self.info)


class DatasetSource(ABC):
    """Base class of a registered dataset.

    Subclasses set the class attributes and implement :meth:`build`. ``options`` are the
    extra keys a sweep may give (``{name: multidigits, n_train: 2000}``), each declared
    once in ``option_table`` (default, type, range; trainers/options.py);
    ``default_options`` is derived from it.
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[Task, ...]]
    input_shape: ClassVar[tuple[int, ...]] = ()
    default_arch: ClassVar[str]
    option_table: ClassVar[OptionTable] = {}
    default_options: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.default_options = defaults(cls.option_table)
        if "train_defaults" in cls.__dict__:  # it would be silently ignored
            raise TypeError(f"{cls.__name__}: training presets belong in trainers/presets.py")

    @classmethod
    def input_shape_for(cls, options: dict[str, Any]) -> tuple[int, ...]:
        """Input shape of one sample; datasets whose shape depends on options override it."""
        return cls.input_shape

    @classmethod
    def tasks_for(cls, options: dict[str, Any]) -> tuple[Task, ...]:
        """Tasks with resolved ``options``; datasets whose tasks are an option override it."""
        return cls.tasks

    @classmethod
    def prepare(cls, options: dict[str, Any], data_dir: Path | None = None,
                source_dir: Path | None = None, download: bool = False,
                progress: Progress | None = None, force: bool = False) -> Path | None:
        """Find the raw files, build the tensors and cache them; returns the cache file.

        A no-op (``None``) for datasets that need no files (embedded or synthetic ones).
        Raises ``DataError`` with one line when files are missing or unreadable.
        """
        return None

    @classmethod
    def cached_files(cls, data_dir: Path | None = None) -> list[Path]:
        """Cache files of this dataset under ``data_dir`` (every option variant)."""
        return []

    @classmethod
    def is_cached(cls, options: dict[str, Any], data_dir: Path | None = None) -> bool | None:
        """Whether ``options``' cache exists; ``None`` for datasets that are never cached."""
        return None

    @classmethod
    def resolve_options(cls, options: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``options``, each checked against ``option_table`` and
        then together (:meth:`check_options`); ``OptionError`` names the option."""
        resolved = resolve(cls.option_table, options)
        cls.check_options(resolved)
        return resolved

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Rules between options (each one alone is checked by its declaration);
        raise ``OptionError`` naming the option to change."""

    @classmethod
    def checked_options(cls, options: dict[str, Any] | None) -> dict[str, Any]:
        """:meth:`resolve_options` with its error as a one-line ``DataError``."""
        try:
            return cls.resolve_options(options)
        except OptionError as exc:
            raise DataError(f"{cls.name}: option {exc.name}: {exc.message}") from None

    @classmethod
    @abstractmethod
    def build(cls, options: dict[str, Any], data_dir: Path | None = None) -> DatasetBundle:
        """Build (or load from cache) the dataset with resolved ``options``."""
