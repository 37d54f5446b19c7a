"""Hard parameter sharing (HPS): one shared network S, one linear head O_t per task.

Task t predicts O_t(S(u)) (docs/architectures.md#hps). S is the data set's paper trunk
(trainers/models/trunks.py): 22,350 parameters on MultiMNIST, 42,740 on Cifar10Mnist.
"""
from __future__ import annotations

from typing import Any

import torch

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import (COMMON_OPTIONS, IMAGE_INPUTS, MultiTaskNet, make_heads,
                                  resolve_options)
from trainers.models.trunks import ConvStack, family_for, shared_network


class HPSNet(MultiTaskNet):
    """Shared network S and heads O_t."""

    def __init__(self, shared: ConvStack, tasks: tuple[Task, ...]) -> None:
        super().__init__()
        self.shared = shared
        self.heads = make_heads(shared.out_features, tasks)
        self.input_weight_names = (f"shared.{ConvStack.input_weight}",)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(x)

    def heads_from(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [head(z) for head in self.heads]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.heads_from(self.representation(x))


@ARCHITECTURES.register("hps")
def build_hps(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
              options: dict[str, Any]) -> HPSNet:
    opts = resolve_options(COMMON_OPTIONS, options)
    family = family_for(dataset, opts["trunk"])
    return HPSNet(shared_network(family, input_shape, opts["width"]), tasks)


build_hps.option_table = COMMON_OPTIONS  # type: ignore[attr-defined]
build_hps.datasets = None  # type: ignore[attr-defined]  # None: works on any image dataset
build_hps.input_rank = IMAGE_INPUTS  # type: ignore[attr-defined]
