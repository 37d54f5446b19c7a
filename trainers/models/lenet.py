"""The LeNets of Pareto MTL, COSMOS and Ruchte & Grabocka (2021b), and the fairness MLP.

- ``lenet``: MultiLeNet (docs/architectures.md#lenet), 42,350 parameters on 1x36x36:
  conv 5x5 C->10c -> pool -> ReLU -> conv 5x5 10c->20c -> pool -> ReLU -> linear -> 50 ->
  ReLU, one linear 50->10 head per task. ``width`` is the channel multiplier c of the
  capacity ablation (20,460 at c = 0.5, 863,870 at c = 10); the heads stay 50->10.
- ``lenet_pmtl``: Pareto MTL's own LeNet (docs/architectures.md#lenet_pmtl), 31,910
  parameters: conv 9x9 1->10 -> ReLU -> pool -> conv 5x5 10->20 -> ReLU -> pool -> linear
  500->50 -> ReLU, heads 50->10.
  The PHN target network has these shapes.
- ``mlp``: the fairness network (docs/architectures.md#mlp): linear d->60 -> ReLU ->
  60->25 -> ReLU -> 25->1.
  The one logit serves every task: the label loss and the fairness (DEO) objective both
  read it, so the tasks genuinely conflict through shared parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import (IMAGE_INPUTS, VECTOR_INPUTS, WIDTH, MultiTaskNet,
                                  make_heads, resolve_options)
from trainers.options import OptionTable


def conv_out(size: int, kernel: int) -> int:
    """Spatial size after a valid k x k convolution and a 2x2 floor-mode pool."""
    return (size - kernel + 1) // 2


class LeNetTrunk(nn.Module):
    """Two conv blocks and one hidden layer; sizes after the convolutions from the input."""

    def __init__(self, input_shape: tuple[int, ...], channels: tuple[int, int],
                 kernels: tuple[int, int], hidden: int, relu_before_pool: bool) -> None:
        super().__init__()
        c_in, h, w = input_shape
        self.conv1 = nn.Conv2d(c_in, channels[0], kernels[0])
        self.conv2 = nn.Conv2d(channels[0], channels[1], kernels[1])
        for kernel in kernels:
            h, w = conv_out(h, kernel), conv_out(w, kernel)
        self.fc = nn.Linear(channels[1] * h * w, hidden)
        self.pool = nn.MaxPool2d(2)
        self.relu_before_pool = relu_before_pool  # the two commute; kept for readability
        self.out_features = hidden

    def block(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        if self.relu_before_pool:
            return self.pool(torch.relu(conv(x)))
        return torch.relu(self.pool(conv(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.conv2, self.block(self.conv1, x))
        return torch.relu(self.fc(torch.flatten(x, 1)))


class TrunkAndHeads(MultiTaskNet):
    """A shared trunk and one linear head per task."""

    input_weight_names = ("shared.conv1.weight",)

    def __init__(self, trunk: nn.Module, tasks: tuple[Task, ...]) -> None:
        super().__init__()
        self.shared = trunk
        self.heads = make_heads(trunk.out_features, tasks)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(x)

    def heads_from(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [head(z) for head in self.heads]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.heads_from(self.representation(x))


LENET_OPTIONS: OptionTable = {"width": WIDTH}


def scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


@ARCHITECTURES.register("lenet")
def build_lenet(tasks, input_shape, dataset, options) -> TrunkAndHeads:
    opts = resolve_options(LENET_OPTIONS, options)
    channels = (scaled(10, opts["width"]), scaled(20, opts["width"]))
    trunk = LeNetTrunk(input_shape, channels, (5, 5), hidden=50, relu_before_pool=False)
    return TrunkAndHeads(trunk, tasks)


@ARCHITECTURES.register("lenet_pmtl")
def build_lenet_pmtl(tasks, input_shape, dataset, options) -> TrunkAndHeads:
    resolve_options({}, options)
    trunk = LeNetTrunk(input_shape, (10, 20), (9, 5), hidden=50, relu_before_pool=True)
    return TrunkAndHeads(trunk, tasks)


class FairnessMLP(MultiTaskNet):
    """d -> 60 -> 25 -> 1 logit, returned once per task."""

    input_weight_names = ("shared.0.weight",)

    def __init__(self, in_features: int, n_tasks: int) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(in_features, 60), nn.ReLU(),
                                    nn.Linear(60, 25), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(25, 1)])  # one output layer, read by every task
        self.n_tasks = n_tasks

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(x)

    def heads_from(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [self.heads[0](z)] * self.n_tasks

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.heads_from(self.representation(x))


@ARCHITECTURES.register("mlp")
def build_mlp(tasks, input_shape, dataset, options) -> FairnessMLP:
    resolve_options({}, options)
    return FairnessMLP(int(input_shape[-1]), len(tasks))


build_lenet.option_table = LENET_OPTIONS  # type: ignore[attr-defined]
build_lenet_pmtl.option_table = {}  # type: ignore[attr-defined]
build_mlp.option_table = {}  # type: ignore[attr-defined]
for _builder in (build_lenet, build_lenet_pmtl, build_mlp):
    _builder.datasets = None  # type: ignore[attr-defined]
build_lenet.input_rank = build_lenet_pmtl.input_rank = IMAGE_INPUTS  # type: ignore[attr-defined]
build_mlp.input_rank = VECTOR_INPUTS  # type: ignore[attr-defined]
