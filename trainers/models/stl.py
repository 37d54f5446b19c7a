"""STL, single-task learning: one independent network S_t + O_t per task.

The paper trains each task alone (docs/architectures.md#stl,
docs/methods/baselines.md#stl-settings). Here the per-task nets
live in one module so that a trial still yields every task's output from one forward
pass; nothing is shared, so a multi-task scalarisation of the per-task losses trains each
net on its own loss (the gradients do not mix). 21,840 weights per task on MultiMNIST
(43,680 for two), 42,410 on Cifar10Mnist (84,820).
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import (COMMON_OPTIONS, IMAGE_INPUTS, MultiTaskNet, make_heads,
                                  resolve_options)
from trainers.models.trunks import ConvStack, family_for, shared_network


class STLNet(MultiTaskNet):
    """``trunks[t]`` and ``heads[t]`` form task t's network; no parameter is shared."""

    def __init__(self, trunks: list[ConvStack], tasks: tuple[Task, ...]) -> None:
        super().__init__()
        self.trunks = nn.ModuleList(trunks)
        self.heads = nn.ModuleList(make_heads(trunk.out_features, (task,))[0]
                                   for trunk, task in zip(trunks, tasks))
        self.input_weight_names = tuple(f"trunks.{t}.{ConvStack.input_weight}"
                                        for t in range(len(tasks)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [head(trunk(x)) for trunk, head in zip(self.trunks, self.heads)]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each task's penultimate feature (post-ReLU hidden layer): what a KDMTL teacher
        hands its student."""
        return [trunk(x) for trunk in self.trunks]

    def task_network(self, t: int) -> nn.Module:
        """Task t's whole network, trunk and head (what a per-task checkpoint keeps)."""
        return nn.ModuleList([self.trunks[t], self.heads[t]])

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Nothing is shared between tasks."""
        return iter(())


@ARCHITECTURES.register("stl")
def build_stl(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
              options: dict[str, Any]) -> STLNet:
    opts = resolve_options(COMMON_OPTIONS, options)
    family = family_for(dataset, opts["trunk"])
    return STLNet([shared_network(family, input_shape, opts["width"]) for _ in tasks], tasks)


build_stl.option_table = COMMON_OPTIONS  # type: ignore[attr-defined]
build_stl.datasets = None  # type: ignore[attr-defined]
build_stl.input_rank = IMAGE_INPUTS  # type: ignore[attr-defined]
