"""The interface a method implements, and how its parameters get their defaults.

Parameters resolve in layers: ``default_params`` < ``presets[dataset]`` < the sweep's
``params``. Training settings resolve likewise: global defaults < the dataset's
``train_defaults`` < the method's ``train_defaults`` < its ``train_presets[dataset]`` <
the sweep's ``train`` < the sweep's search axes.
Unknown parameter names are errors, so a typo never silently runs the default.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

#: GrOWL spike weights of the sparsity objective L0, shared by every method (paper values)
SPARSITY_PARAMS: dict[str, Any] = {"beta1": 0.8, "beta2": 0.2}


class Method(ABC):
    """Turns the objective vector into a training loss; one instance per trial."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: False for methods that need no preference vector (MGDA, single task)
    uses_preference: ClassVar[bool] = True
    default_params: ClassVar[dict[str, Any]] = {}
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: training settings of the method on any dataset (e.g. WC-AL's p = 3 epochs/iteration)
    train_defaults: ClassVar[dict[str, Any]] = {}
    #: training settings of the method on one dataset (the papers' per-dataset presets)
    train_presets: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, preference: list[float] | None, params: dict[str, Any],
                 n_tasks: int) -> None:
        self.n_tasks = n_tasks
        self.params = params
        if preference is None:
            preference = [0.0] + [1.0 / n_tasks] * n_tasks
        self.k = torch.tensor(preference, dtype=torch.float32)

    @classmethod
    def resolve_params(cls, params: dict[str, Any] | None, dataset: str) -> dict[str, Any]:
        """Defaults, then the dataset preset, then ``params``; unknown keys raise KeyError."""
        params = dict(params or {})
        defaults = {**SPARSITY_PARAMS, **cls.default_params}
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise KeyError(unknown[0])
        return {**defaults, **cls.presets.get(dataset, {}), **params}

    @property
    def uses_sparsity(self) -> bool:
        """Whether L0 must be computed with gradient (k0 > 0)."""
        return bool(self.k[0] > 0)

    def to(self, device: torch.device) -> "Method":
        self.k = self.k.to(device)
        return self

    def extra_parameters(self) -> list[nn.Parameter]:
        """Trainable scalars the method adds to the optimiser (WC-AL's t)."""
        return []

    @abstractmethod
    def scalarize(self, objectives: torch.Tensor) -> torch.Tensor:
        """Scalar loss from ``objectives`` = (L0, L1, ..., Lm) of one mini-batch."""

    def begin_epoch(self) -> None:
        """Called before every training epoch."""

    def end_iteration(self) -> None:
        """Called after every iteration (``epochs_per_iteration`` epochs)."""

    def state(self) -> dict[str, Any]:
        """JSON-able internal state, stored with the trial (multipliers, t, ...)."""
        return {}
