"""Shared pieces of the benchmark suite: the synthetic MultiMNIST-like trial config, timing
helpers, and the torch state a trial sets and a baseline must not inherit."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch

from trainers.methods import METHODS

DATASET = "multidigits"  # embedded: no files; shift 28 gives the 36x36 MultiMNIST canvas
SHIFT = 28


def trial_config(method: str, arch: str, *, n_train: int, n_val: int = 64, n_test: int = 64,
                 epochs: int = 1, batch_size: int = 256, device: str = "cpu",
                 preference: list[float] | None = None, params: dict[str, Any] | None = None,
                 threads: int | None = None) -> dict[str, Any]:
    """One trial on 36x36 two-digit overlays, its parameters resolved by the method."""
    return {
        "key": f"bench-{method}-{arch}",
        "dataset": {"name": DATASET, "options": {"n_train": n_train, "n_val": n_val,
                                                 "n_test": n_test, "shift": SHIFT}},
        "arch": {"name": arch, "options": {}},
        "method": {"name": method,
                   "params": METHODS.get(method).resolve_params(params or {}, DATASET, arch)},
        "preference": preference, "seed": 0,
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": 1e-3, "device": device},
        "runtime": {"threads": threads or torch.get_num_threads()},
    }


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def median(values: list[float]) -> float:
    return statistics.median(values)


class TorchState:
    """Threads and determinism switches as found; a trial changes them (reproducibility),
    the papers' code runs with the defaults, so the baseline gets them back."""

    def __init__(self) -> None:
        self.threads = torch.get_num_threads()
        self.deterministic = torch.are_deterministic_algorithms_enabled()
        self.cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)

    def restore(self) -> None:
        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(self.deterministic)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = self.cudnn
