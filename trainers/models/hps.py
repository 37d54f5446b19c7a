"""Hard parameter sharing (HPS): one shared trunk, one linear head per task.

The trunk is chosen by dataset (the MDMTN paper fixes one per data set); datasets without
a paper trunk get a small CNN sized from the input shape. ``width`` scales every hidden
layer (the capacity ablation of the seed-3 paper).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import MultiTaskNet

HPS_DEFAULTS: dict[str, Any] = {"width": 1.0, "channels": 16, "hidden": 64}


class SmallCNNTrunk(nn.Module):
    """Conv k3 -> ReLU -> MaxPool2 -> Flatten -> Linear -> ReLU, for small images."""

    def __init__(self, input_shape: tuple[int, ...], channels: int, hidden: int) -> None:
        super().__init__()
        c_in, h, w = input_shape
        self.conv1 = nn.Conv2d(c_in, channels, kernel_size=3)
        self.pool = nn.MaxPool2d(2)
        flat = channels * ((h - 2) // 2) * ((w - 2) // 2)
        self.fc = nn.Linear(flat, hidden)
        self.out_features = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        return torch.relu(self.fc(torch.flatten(x, 1)))


class HPSNet(MultiTaskNet):
    """Shared trunk S and heads O_t: task t predicts O_t(S(u))."""

    input_weight_names = ("shared.conv1.weight",)

    def __init__(self, trunk: nn.Module, tasks: tuple[Task, ...]) -> None:
        super().__init__()
        self.shared = trunk
        self.heads = nn.ModuleList(
            nn.Linear(trunk.out_features, task.n_classes or 1) for task in tasks
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = self.shared(x)
        return [head(z) for head in self.heads]


def scaled(value: int, width: float) -> int:
    return max(1, int(round(value * width)))


@ARCHITECTURES.register("hps")
def build_hps(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
              options: dict[str, Any]) -> HPSNet:
    opts = {**HPS_DEFAULTS, **options}
    trunk = SmallCNNTrunk(input_shape, scaled(opts["channels"], opts["width"]),
                          scaled(opts["hidden"], opts["width"]))
    return HPSNet(trunk, tasks)


build_hps.defaults = HPS_DEFAULTS  # type: ignore[attr-defined]
build_hps.datasets = None  # type: ignore[attr-defined]  # None: works on any image dataset
