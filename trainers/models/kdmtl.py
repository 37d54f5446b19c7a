"""KDMTL, knowledge-distillation MTL: HPS plus one adaptor A_t per task.

The adaptor (linear h -> h, ReLU; docs/architectures.md#kdmtl) maps the shared feature
S(u) into task t's teacher feature space; a distillation method compares
``adapted_features(x)[t]`` with a single-task teacher's penultimate feature. The heads
read S(u) directly, as in the paper. 27,450 weights on MultiMNIST, 44,852 on
Cifar10Mnist.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import COMMON_OPTIONS, IMAGE_INPUTS, resolve_options
from trainers.models.hps import HPSNet
from trainers.models.trunks import ConvStack, family_for, shared_network


class KDMTLNet(HPSNet):
    """HPS with per-task adaptors on the shared feature."""

    def __init__(self, shared: ConvStack, tasks: tuple[Task, ...]) -> None:
        super().__init__(shared, tasks)
        hidden = shared.out_features
        self.adaptors = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU()) for _ in tasks)

    def adapted_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """A_t(S(u)) for every task: what the distillation term compares with teachers."""
        return self.outputs_and_adapted(x)[1]

    def outputs_and_adapted(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The task logits O_t(S(u)) and the adapted features A_t(S(u)) from one pass of S,
        so that the distillation gradient and the task gradients meet in the same S(u)."""
        s = self.shared(x)
        return [head(s) for head in self.heads], [adaptor(s) for adaptor in self.adaptors]


@ARCHITECTURES.register("kdmtl")
def build_kdmtl(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
                options: dict[str, Any]) -> KDMTLNet:
    opts = resolve_options(COMMON_OPTIONS, options)
    family = family_for(dataset, opts["trunk"])
    return KDMTLNet(shared_network(family, input_shape, opts["width"]), tasks)


build_kdmtl.option_table = COMMON_OPTIONS  # type: ignore[attr-defined]
build_kdmtl.datasets = None  # type: ignore[attr-defined]
build_kdmtl.input_rank = IMAGE_INPUTS  # type: ignore[attr-defined]
