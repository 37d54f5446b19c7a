"""The one interface every multi-task network implements.

``forward(x)`` returns one logit tensor per task. ``eligible_weights()`` names the weight
tensors the sparsity objective (GrOWL) acts on: every weight of two or more dimensions
except the layers that read the raw input and the task output heads (reference/mdmtn.md
sections 2.6 and 4.2). Metrics, by contrast, count every weight tensor (``all_weights``).
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn


class MultiTaskNet(nn.Module):
    """Base class: subclasses fill ``heads`` and list their input layers' parameter names."""

    heads: nn.ModuleList
    #: names of parameters (``shared.conv1.weight``) of layers that see the raw input
    input_weight_names: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must implement forward")

    def all_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Every weight tensor with >= 2 dims (conv and linear weights, heads included)."""
        for name, param in self.named_parameters():
            if param.ndim >= 2:
                yield name, param

    def eligible_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Weights GrOWL may sparsify: not input layers, not task heads."""
        for name, param in self.all_weights():
            if name.startswith("heads.") or name in self.input_weight_names:
                continue
            yield name, param

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters outside the task heads (what gradient-balancing methods balance)."""
        for name, param in self.named_parameters():
            if not name.startswith("heads."):
                yield param
