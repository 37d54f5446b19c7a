"""``resnet18``: Pareto MTL's ResNet18 variant (docs/architectures.md#resnet18).

torchvision's ResNet-18, not pretrained, with standard BatchNorm; the first conv reads
the data set's channels (1 on the 36x36 Multi-MNIST family) with the usual 7x7 kernel,
stride 2, padding 3 and no bias; the final FC maps 512 -> 100. A ReLU on the 100-d
output gives the shared representation, which one linear head per task reads (100 ->
10). For a 1x36x36 input the feature maps are 18 -> 9 (max-pool) -> 9 -> 5 -> 3 -> 2
before the global average pool. Parameters: 11,221,540 in the backbone plus 1,010 per
ten-class head (11,223,560 for two tasks).

The sparsity objective (GrOWL) leaves out the input conv and the heads, as for every
architecture (trainers/models/base.py). Not used by COSMOS or Ruchte & Grabocka (2021b);
Pareto MTL trains it with Adam lr 1e-3, milestones 10 and 20 (x0.1), 20 epochs, batch 256.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import IMAGE_INPUTS, MultiTaskNet, make_heads, resolve_options

#: width of the backbone's output (the replaced FC) that the heads read
HIDDEN = 100


class ResNet18Net(MultiTaskNet):
    """ResNet-18 backbone (input conv for ``channels``, FC 512 -> 100), ReLU, heads."""

    input_weight_names = ("backbone.conv1.weight",)

    def __init__(self, channels: int, tasks: tuple[Task, ...]) -> None:
        super().__init__()
        from torchvision.models import resnet18  # lazy: torchvision costs 1.4 s to import

        self.backbone = resnet18(weights=None, num_classes=HIDDEN)
        self.backbone.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3,
                                        bias=False)
        self.heads = make_heads(HIDDEN, tasks)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """The shared 100-d feature every head reads."""
        return torch.relu(self.backbone(x))

    def heads_from(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [head(z) for head in self.heads]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.heads_from(self.representation(x))


@ARCHITECTURES.register("resnet18")
def build_resnet18(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
                   options: dict[str, Any]) -> ResNet18Net:
    resolve_options({}, options)
    if len(input_shape) != 3:
        raise ValueError(f"resnet18 needs image inputs (C, H, W), got shape {input_shape}")
    return ResNet18Net(int(input_shape[0]), tasks)


build_resnet18.option_table = {}  # type: ignore[attr-defined]
build_resnet18.datasets = None  # type: ignore[attr-defined]  # any image data set
build_resnet18.input_rank = IMAGE_INPUTS  # type: ignore[attr-defined]
