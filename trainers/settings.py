"""Training settings of a trial, with the layered defaults described in methods/base.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 1024
    lr: float = 1e-3
    lr_decay: float = 1.0           # multiply the learning rate by this after each iteration
    epochs_per_iteration: int = 1   # p: multipliers, penalty and lr move every p epochs
    optimizer: str = "adam"         # adam | sgd
    momentum: float = 0.9           # sgd only
    checkpoint: str = "best_val"    # best_val | last: which epoch's weights the trial keeps
    device: str = "auto"            # auto | cpu | cuda | cuda:N (not part of a trial's identity)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @classmethod
    def resolve(cls, *layers: dict[str, Any] | None) -> "TrainSettings":
        """Later layers override earlier ones; ``None`` values mean "not set"."""
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update({k: v for k, v in (layer or {}).items() if v is not None})
        unknown = sorted(set(merged) - cls.field_names())
        if unknown:
            raise KeyError(unknown[0])
        return cls(**merged)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
