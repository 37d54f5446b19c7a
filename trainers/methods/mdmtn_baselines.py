"""What the MDMTN paper's baselines (``stl``, ``kdmtl``, ``mtan``;
docs/methods/baselines.md) share: each trains one architecture of its own, may start with
LSUV (the paper uses it "for all experiments"), and weights the task losses with fixed
numbers lambda_t.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from trainers import loop
from trainers.lsuv import lsuv_
from trainers.methods.params import Param, real


def task_weights(default: float) -> Param:
    """Fixed task weights lambda_t: a number >= 0 for every task, or one per task."""
    return real(default, 0.0, shape="one|list")


def require(model: nn.Module, kind: type, method: str, arch: str) -> None:
    """A clear error when a method meets an architecture it cannot train (the sweep
    expansion already refuses such pairs; this guards direct ``run_trial`` calls)."""
    if not isinstance(model, kind):
        raise TypeError(f"method {method!r} trains only architecture {arch!r}, "
                        f"got {type(model).__name__}")


def initialise(model: nn.Module, data: loop.TrainData, settings, generator: torch.Generator,
               enabled: bool) -> float:
    """LSUV on the first training batch when ``enabled``; returns the seconds it took."""
    start = time.perf_counter()
    if enabled:
        x, _ = next(loop.batches(data.train, settings.batch_size, generator))
        lsuv_(model, x, generator)
    return time.perf_counter() - start


def weight_vector(value, n_tasks: int, name: str) -> torch.Tensor:
    """The per-task weights: a number repeated, or a list of exactly one per task."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n_tasks
    if len(values) != n_tasks:
        raise ValueError(f"{name} has {len(values)} values for {n_tasks} tasks")
    return torch.tensor(values, dtype=torch.float32)
