"""The paper's building blocks: the shared network S and the task monitors M_t.

The MDMTN paper (docs/architectures.md#paper-trunks) fixes one *family* of layer sizes per
data set:

- ``mm`` (MultiMNIST): conv 1->10 k5 -> pool -> ReLU -> conv 10->20 k5 -> pool ->
  ReLU -> flatten -> linear -> 50 -> ReLU; monitor conv ->20 k5 -> pool -> ReLU -> linear -> 50.
- ``cm`` (Cifar10Mnist): conv 3->16 k3 -> pool -> BN -> ReLU -> conv 16->32 k3 ->
  pool -> BN -> ReLU -> flatten -> linear -> 32 -> ReLU; monitor conv ->32 k3 -> pool ->
  BN -> ReLU -> linear -> 32.
- ``small``: one conv block (16 channels, k3) and 64 hidden units, for data sets without a
  paper trunk (the 10x10 ``multidigits``).

Convolutions have no padding and stride 1, pooling is 2x2 floor mode, flatten is channel
major. Every size after the convolutions is computed from the input shape, so the
MultiMNIST family also runs on 36x36 images. ``width`` scales the shared network's
channels and hidden units (the monitors keep their channels but must emit the shared
network's hidden size, since the fusion adds the two).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainers.registry import Registry


@dataclass(frozen=True)
class Family:
    """Layer sizes of one paper trunk (docs/architectures.md#paper-trunks)."""

    channels: tuple[int, ...]   # output channels of the shared conv blocks
    kernel: int
    hidden: int                 # width of the shared feature (and monitor / adaptor output)
    batchnorm: bool             # Cifar10Mnist blocks put BatchNorm between pool and ReLU
    monitor_channels: int


FAMILIES: Registry[Family] = Registry("trunk family")
FAMILIES.register("mm")(Family(channels=(10, 20), kernel=5, hidden=50, batchnorm=False,
                               monitor_channels=20))
FAMILIES.register("cm")(Family(channels=(16, 32), kernel=3, hidden=32, batchnorm=True,
                               monitor_channels=32))
FAMILIES.register("small")(Family(channels=(16,), kernel=3, hidden=64, batchnorm=False,
                                  monitor_channels=16))

#: which family a data set uses when an architecture's ``trunk`` option is ``auto``
DATASET_FAMILY: dict[str, str] = {
    "multimnist": "mm",
    "cifar10mnist": "cm",
    # the Pareto MTL 36x36 one-channel overlays: same recipe as MultiMNIST, larger canvas
    "multifashion": "mm",
    "multimnist36": "mm",
    "multifashion_mnist": "mm",
}
DEFAULT_FAMILY = "small"


def family_for(dataset: str, trunk: str = "auto") -> Family:
    """The family named by ``trunk``, or the data set's own one for ``auto``."""
    name = DATASET_FAMILY.get(dataset, DEFAULT_FAMILY) if trunk == "auto" else trunk
    return FAMILIES.get(name)


def scaled(value: int, width: float) -> int:
    """A layer size times the width multiplier, at least 1."""
    return max(1, int(round(value * width)))


class ConvBlock(nn.Module):
    """conv (no padding) -> max-pool 2 -> [BatchNorm] -> ReLU (the paper's block order)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, batchnorm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=kernel)
        self.pool = nn.MaxPool2d(2)
        self.norm = nn.BatchNorm2d(c_out) if batchnorm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.pool(self.conv(x))))


def block_output_shape(shape: tuple[int, int, int], c_out: int,
                       kernel: int) -> tuple[int, int, int]:
    """(C, H, W) after one block: valid convolution, then 2x2 floor pooling."""
    _, h, w = shape
    h, w = (h - kernel + 1) // 2, (w - kernel + 1) // 2
    if h < 1 or w < 1:
        raise ValueError(f"input of shape {shape} is too small for a k{kernel} conv block")
    return (c_out, h, w)


class ConvStack(nn.Module):
    """Conv blocks, then flatten -> linear -> ReLU: the shared network S or a monitor M_t."""

    def __init__(self, input_shape: tuple[int, ...], channels: tuple[int, ...], kernel: int,
                 hidden: int, batchnorm: bool) -> None:
        super().__init__()
        shape = tuple(input_shape)
        blocks = []
        self.block_shapes: list[tuple[int, int, int]] = []
        for c_out in channels:
            blocks.append(ConvBlock(shape[0], c_out, kernel, batchnorm))
            shape = block_output_shape(shape, c_out, kernel)
            self.block_shapes.append(shape)
        self.blocks = nn.ModuleList(blocks)
        self.kernel, self.batchnorm = kernel, batchnorm
        self.fc = nn.Linear(shape[0] * shape[1] * shape[2], hidden)
        self.out_features = hidden

    #: the weight that reads the raw input (excluded from GrOWL:
    #: docs/architectures.md#eligible-layers)
    input_weight = "blocks.0.conv.weight"

    def block_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of every conv block (the stages MTAN attends to)."""
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs

    def head_features(self, last_block: torch.Tensor) -> torch.Tensor:
        """The final flatten -> linear -> ReLU applied to the last block's output."""
        return torch.relu(self.fc(torch.flatten(last_block, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head_features(x)


def shared_network(family: Family, input_shape: tuple[int, ...], width: float) -> ConvStack:
    """S: the family's conv blocks and hidden layer, scaled by ``width``."""
    return ConvStack(input_shape, tuple(scaled(c, width) for c in family.channels),
                     family.kernel, scaled(family.hidden, width), family.batchnorm)


def monitor(family: Family, input_shape: tuple[int, ...], hidden: int) -> ConvStack:
    """M_t: one conv block on the raw input and a linear layer to the shared width."""
    return ConvStack(input_shape, (family.monitor_channels,), family.kernel, hidden,
                     family.batchnorm)
