"""The one interface every multi-task network implements.

``forward(x)`` returns one logit tensor per task. ``eligible_weights()`` names the weight
tensors the sparsity objective (GrOWL) acts on: every weight of two or more dimensions
except the layers that read the raw input and the task output heads
(docs/architectures.md#eligible-layers). Metrics, by contrast, count every weight tensor
(``all_weights``).
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from trainers.models.trunks import FAMILIES
from trainers.options import Option, OptionTable, resolve

#: ``width`` multiplies channels and hidden units; 64x is far beyond any paper's ablation
WIDTH = Option(1.0, float, gt=0, le=64)
#: options every architecture takes: ``width`` scales the shared network (the capacity
#: ablation of Ruchte & Grabocka (2021b), Table 4); ``trunk`` picks a layer family (mm, cm,
#: small) or ``auto`` = the data set's own (trainers/models/trunks.py)
COMMON_OPTIONS: OptionTable = {"width": WIDTH,
                               "trunk": Option("auto", str, choices=("auto", *FAMILIES.names()))}

#: ``builder.input_rank``: the rank of one input sample an architecture reads
IMAGE_INPUTS, VECTOR_INPUTS = 3, 1
INPUT_KINDS = {IMAGE_INPUTS: "images (C, H, W)", VECTOR_INPUTS: "feature vectors (d,)"}


def input_mismatch(builder: Any, input_shape: tuple[int, ...]) -> str | None:
    """Why ``builder`` cannot read samples of ``input_shape`` (None when it can), so the
    sweep expansion refuses a pair that would only fail inside its trial."""
    rank = getattr(builder, "input_rank", None)
    if rank is None or len(input_shape) == rank:
        return None
    return f"reads {INPUT_KINDS[rank]}, but the dataset's samples have shape {tuple(input_shape)}"


class NoSharedRepresentation(TypeError):
    """The architecture has no single feature tensor z that every task head reads
    (MDMTN's per-task fusion, STL, ...), so MGDA-UB cannot run on it."""

    def __init__(self, arch: str) -> None:
        super().__init__(f"architecture {arch} has no single shared representation z "
                         "feeding every task head, so MGDA-UB cannot run on it (use mode: exact)")


class MultiTaskNet(nn.Module):
    """Base class: subclasses fill ``heads`` and name the weights that read the raw input."""

    heads: nn.ModuleList
    #: names of parameters (``shared.blocks.0.conv.weight``) of layers that see the raw input
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

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """The one feature tensor z every task head reads (MGDA-UB differentiates the task
        losses w.r.t. z instead of the shared weights). Architectures whose heads do not
        all read a single shared z (MDMTN's per-task fusion, STL, ...) cannot offer it."""
        raise NoSharedRepresentation(type(self).__name__)

    def heads_from(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Task logits from the shared representation: ``forward(x) ==
        heads_from(representation(x))`` where ``representation`` exists."""
        raise NoSharedRepresentation(type(self).__name__)

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters outside the task heads (what gradient-balancing methods balance)."""
        for name, param in self.named_parameters():
            if not name.startswith("heads."):
                yield param


def make_heads(in_features: int, tasks) -> nn.ModuleList:
    """One linear output layer O_t per task (log-softmax lives in the loss)."""
    return nn.ModuleList(nn.Linear(in_features, task.n_classes or 1) for task in tasks)


def resolve_options(table: OptionTable, options: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``options``, each checked against the architecture's
    declarations; ``OptionError`` names a wrong or unknown option."""
    return resolve(table, options)
