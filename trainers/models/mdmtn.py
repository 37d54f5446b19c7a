"""MDMTN, the Monitored Deep Multi-Task Network (Hotegni et al. (2024);
docs/architectures.md#mdmtn).

A shared network S, one small *monitor* M_t per task (one conv block and one linear layer
on the raw input u) and one head O_t per task. The head sees a learned fusion

    z_t = alpha_t1 * S(u) + alpha_t2 * M_t(u),

with alpha_t an unconstrained trainable 2-vector per task initialised to (1, 0), so that
training starts from plain hard sharing and lets each task pull in its monitor as far as
it pays. The alphas are registered parameters (``alpha.<t>``): they are optimised, saved
in checkpoints, moved with the model and have their gradients zeroed like any other
weight (the authors' code keeps them in a plain dict — a quirk we do not reproduce). They
are 1-D, so they never count as rows for GrOWL or the metrics. 311,490 weights + 4 alphas
on MultiMNIST, 505,524 + 4 on Cifar10Mnist.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.datasets import Task
from trainers.models import ARCHITECTURES
from trainers.models.base import (COMMON_OPTIONS, IMAGE_INPUTS, MultiTaskNet, make_heads,
                                  resolve_options)
from trainers.models.trunks import ConvStack, family_for, monitor, shared_network

#: alpha_t at initialisation: all weight on the shared network (the paper)
ALPHA_INIT = (1.0, 0.0)


class MDMTNNet(MultiTaskNet):
    """S, monitors M_t, fusion weights alpha_t and heads O_t."""

    def __init__(self, shared: ConvStack, monitors: list[ConvStack],
                 tasks: tuple[Task, ...]) -> None:
        super().__init__()
        self.shared = shared
        self.monitors = nn.ModuleList(monitors)
        self.alpha = nn.ParameterList(nn.Parameter(torch.tensor(ALPHA_INIT)) for _ in tasks)
        self.heads = make_heads(shared.out_features, tasks)
        self.input_weight_names = (f"shared.{ConvStack.input_weight}",) + tuple(
            f"monitors.{t}.{ConvStack.input_weight}" for t in range(len(tasks)))

    def fused(self, x: torch.Tensor) -> list[torch.Tensor]:
        """z_t = alpha_t1 S(u) + alpha_t2 M_t(u) for every task."""
        s = self.shared(x)
        return [alpha[0] * s + alpha[1] * mon(x) for alpha, mon in zip(self.alpha, self.monitors)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [head(z) for head, z in zip(self.heads, self.fused(x))]


@ARCHITECTURES.register("mdmtn")
def build_mdmtn(tasks: tuple[Task, ...], input_shape: tuple[int, ...], dataset: str,
                options: dict[str, Any]) -> MDMTNNet:
    opts = resolve_options(COMMON_OPTIONS, options)
    family = family_for(dataset, opts["trunk"])
    shared = shared_network(family, input_shape, opts["width"])
    monitors = [monitor(family, input_shape, shared.out_features) for _ in tasks]
    return MDMTNNet(shared, monitors, tasks)


build_mdmtn.option_table = COMMON_OPTIONS  # type: ignore[attr-defined]
build_mdmtn.datasets = None  # type: ignore[attr-defined]
build_mdmtn.input_rank = IMAGE_INPUTS  # type: ignore[attr-defined]
