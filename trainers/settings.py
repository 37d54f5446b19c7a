"""Training settings of a trial (declared once, in contract.settings, with the layered
defaults described in methods/base.py) and the device they name."""
from __future__ import annotations

import torch

from contract.settings import TrainSettings

__all__ = ["TrainSettings", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
