"""``direct``: no network, the trainable parameters *are* the decision vector x.

For closed-form multi-objective problems (``synthetic_concave``): the dataset class
provides ``objectives(x) -> (f_1, ..., f_m)`` and this model returns those values, one
(B, 1) tensor per task (the same value for every placeholder sample of the batch), so
the loop's ``objective`` task kind turns them into the losses unchanged. Methods, the
training loop and the store then treat the problem like any other trial, which is what
lets a method be checked where the true front is known.

x starts uniform in [-``init_range``, ``init_range``]^d (U(-0.5, 0.5)^d in the Pareto MTL
paper), drawn from torch's global generator, which each trial seeds. x is a vector, so
the sparsity objective and the row metrics find no weight matrix here (empty / NaN).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from trainers.datasets import DATASETS, Task
from trainers.models import ARCHITECTURES
from trainers.models.base import VECTOR_INPUTS, MultiTaskNet, resolve_options
from trainers.options import Option, OptionTable

#: x0 ~ U(-init_range, init_range)^d; 0 starts at the origin
DIRECT_OPTIONS: OptionTable = {"init_range": Option(0.5, float, ge=0, le=1e6)}


class DirectNet(MultiTaskNet):
    """The decision vector x and the problem's objective function."""

    def __init__(self, dim: int, objectives: Callable[[torch.Tensor], torch.Tensor],
                 n_tasks: int, init_range: float) -> None:
        super().__init__()
        self.x = nn.Parameter((torch.rand(dim) * 2.0 - 1.0) * init_range)
        self.objectives = objectives
        self.n_tasks = n_tasks
        self.heads = nn.ModuleList()

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        values = self.objectives(self.x)
        batch = inputs.shape[0]
        return [values[i].expand(batch, 1) for i in range(self.n_tasks)]


def problem_datasets() -> tuple[str, ...]:
    """Datasets that are closed-form problems (they define ``objectives``)."""
    return tuple(name for name in DATASETS.names()
                 if callable(getattr(DATASETS.get(name), "objectives", None)))


@ARCHITECTURES.register("direct")
def build_direct(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
                 options: dict[str, Any]) -> DirectNet:
    opts = resolve_options(DIRECT_OPTIONS, options)
    source = DATASETS.get(dataset)
    if not callable(getattr(source, "objectives", None)):
        raise ValueError(f"architecture 'direct' needs a closed-form problem, not {dataset!r}")
    return DirectNet(int(input_shape[0]), source.objectives, len(tasks), float(opts["init_range"]))


build_direct.option_table = DIRECT_OPTIONS  # type: ignore[attr-defined]
build_direct.datasets = problem_datasets()  # type: ignore[attr-defined]
build_direct.input_rank = VECTOR_INPUTS  # type: ignore[attr-defined]
