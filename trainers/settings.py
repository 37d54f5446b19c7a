"""Training settings of a trial (declared once, in contract.settings, with the layered
defaults described in methods/base.py) and the device they name."""
from __future__ import annotations

import torch

from contract.settings import TrainSettings

__all__ = ["TrainSettings", "release_cached_memory", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def release_cached_memory() -> None:
    """Give the CUDA allocator's cached free blocks back once a trial or pack is done: a
    reused Ray worker would otherwise keep its peak reserved, and the trials sharing its
    GPU would size their packs on memory that nothing uses."""
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
