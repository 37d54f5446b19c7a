"""MTAN, multi-task attention network, on the paper trunk (docs/architectures.md#mtan).

The shared network S runs unchanged; each task t owns soft attention masks that select
from S's features:

- a *conv attention* for every conv block b >= 2: conv 1x1 (C_{b-1} -> C_{b-1}) ->
  [BN] -> ReLU -> conv k (C_{b-1} -> C_b) -> max-pool 2 -> [BN] -> sigmoid, computed from
  the task's attended output of block b-1 (block 1 is not attended) and multiplied into
  S's block b output;
- an *FC attention*: flatten -> linear d -> d -> ReLU -> linear d -> h -> sigmoid, computed
  from the last attended block and multiplied into S's hidden feature, which the head
  reads.

Per-task attention is what MTAN means (and what the paper describes): 270,150 weights on
MultiMNIST, 2,783,060 on Cifar10Mnist. The authors' code places one attention instance
in both tasks' lists, so both tasks attend identically (146,250 / 1,412,900 weights);
``shared_attention: true`` reproduces that (a switch for the authors' code,
docs/methods/baselines.md#shared-attention; default off).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import (COMMON_OPTIONS, IMAGE_INPUTS, MultiTaskNet, make_heads,
                                  resolve_options)
from trainers.models.trunks import ConvStack, family_for, shared_network
from trainers.options import Option, OptionTable

MTAN_OPTIONS: OptionTable = {**COMMON_OPTIONS, "shared_attention": Option(False, bool)}


def maybe_norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


class ConvAttention(nn.Module):
    """Mask for block b's output, computed from the attended output of block b-1."""

    def __init__(self, c_prev: int, c_out: int, kernel: int, batchnorm: bool) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(c_prev, c_prev, kernel_size=1)
        self.norm1 = maybe_norm(c_prev, batchnorm)
        self.conv = nn.Conv2d(c_prev, c_out, kernel_size=kernel)
        self.pool = nn.MaxPool2d(2)
        self.norm2 = maybe_norm(c_out, batchnorm)

    def forward(self, attended_prev: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.squeeze(attended_prev)))
        return torch.sigmoid(self.norm2(self.pool(self.conv(h))))


class FCAttention(nn.Module):
    """Mask for the shared hidden feature, from the last attended conv block."""

    def __init__(self, flat: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(flat, flat)
        self.fc2 = nn.Linear(flat, hidden)

    def forward(self, attended_last: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(torch.flatten(attended_last, 1)))
        return torch.sigmoid(self.fc2(h))


class TaskAttention(nn.Module):
    """All of one task's masks."""

    def __init__(self, shared: ConvStack) -> None:
        super().__init__()
        shapes = shared.block_shapes
        self.convs = nn.ModuleList(
            ConvAttention(prev[0], cur[0], shared.kernel, shared.batchnorm)
            for prev, cur in zip(shapes[:-1], shapes[1:]))
        c, h, w = shapes[-1]
        self.fc = FCAttention(c * h * w, shared.out_features)

    def forward(self, blocks: list[torch.Tensor], hidden: torch.Tensor) -> torch.Tensor:
        attended = blocks[0]
        for block_out, attention in zip(blocks[1:], self.convs):
            attended = block_out * attention(attended)
        return hidden * self.fc(attended)


class MTANNet(MultiTaskNet):
    """Shared network S, per-task attention, heads on the attended hidden feature."""

    def __init__(self, shared: ConvStack, tasks: tuple[Task, ...], shared_attention: bool) -> None:
        super().__init__()
        self.shared = shared
        if shared_attention:
            one = TaskAttention(shared)
            self.attention = nn.ModuleList([one] * len(tasks))
        else:
            self.attention = nn.ModuleList(TaskAttention(shared) for _ in tasks)
        self.heads = make_heads(shared.out_features, tasks)
        self.input_weight_names = (f"shared.{ConvStack.input_weight}",)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        blocks = self.shared.block_outputs(x)
        hidden = self.shared.head_features(blocks[-1])
        return [head(attention(blocks, hidden))
                for head, attention in zip(self.heads, self.attention)]


@ARCHITECTURES.register("mtan")
def build_mtan(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
               options: dict[str, Any]) -> MTANNet:
    opts = resolve_options(MTAN_OPTIONS, options)
    family = family_for(dataset, opts["trunk"])
    shared = shared_network(family, input_shape, opts["width"])
    return MTANNet(shared, tasks, bool(opts["shared_attention"]))


build_mtan.option_table = MTAN_OPTIONS  # type: ignore[attr-defined]
build_mtan.datasets = None  # type: ignore[attr-defined]
build_mtan.input_rank = IMAGE_INPUTS  # type: ignore[attr-defined]
