"""The sweep's resources against what Ray can give, checked before anything is written.

Ray Tune waits forever for a trial that no node can hold, so a trial asking for more
CPUs or GPUs than any node has is bad input (exit 2, naming the field). A concurrency
cap above what fits at once only makes the sweep slower than asked: a warning.
A local Ray is given exactly :func:`local_resources`, so the check before starting it
and the Ray it starts agree.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from orchestrator.errors import SpecError


def local_resources() -> tuple[float, float]:
    """``(CPUs, GPUs)`` that a local Ray gets: the CPUs this process may run on and the
    CUDA devices torch sees (both honour taskset and CUDA_VISIBLE_DEVICES)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import torch  # already imported by the expansion (trainers)

    return float(cpus or 1), float(torch.cuda.device_count())


@dataclass(frozen=True)
class Capacity:
    """``(CPUs, GPUs)`` per node of a Ray, and how to name that Ray in messages."""

    nodes: list[tuple[float, float]]
    where: str  # "the local Ray" / "the Ray cluster"

    def slots(self, cpus_per_trial: float, gpus_per_trial: float) -> int:
        """How many such trials fit at once, node by node."""
        total = 0
        for cpus, gpus in self.nodes:
            fit = _fits(cpus, cpus_per_trial)
            if gpus_per_trial > 0:
                fit = min(fit, _fits(gpus, gpus_per_trial))
            total += fit
        return total


def _fits(have: float, need: float) -> int:
    return math.floor(have / need + 1e-9)  # 3 x 0.1 CPU fit into 0.3


def _count(value: float, unit: str) -> str:
    return f"{value:g} {unit}{'' if value == 1 else 's'}"


def check_capacity(capacity: Capacity, source: str, *, cpus_per_trial: float,
                   gpus_per_trial: float, max_concurrent: int,
                   concurrency_field: str) -> str | None:
    """Raise SpecError when no node can run one trial; return a one-line warning when
    ``max_concurrent`` trials cannot run at once (None when they can)."""
    largest = "the largest node of " + capacity.where if len(capacity.nodes) > 1 else capacity.where
    most_cpus = max((c for c, _ in capacity.nodes), default=0.0)
    most_gpus = max((g for _, g in capacity.nodes), default=0.0)
    if cpus_per_trial > most_cpus:
        raise SpecError(source, "resources.cpus_per_trial",
                        f"{_count(cpus_per_trial, 'CPU')} per trial, but {largest} has "
                        f"{most_cpus:g}")
    if gpus_per_trial > most_gpus:
        raise SpecError(source, "resources.gpus_per_trial",
                        f"{_count(gpus_per_trial, 'GPU')} per trial, but {largest} has "
                        f"{most_gpus:g}")
    slots = capacity.slots(cpus_per_trial, gpus_per_trial)
    if slots == 0:
        raise SpecError(source, "resources", f"{_count(cpus_per_trial, 'CPU')} and "
                        f"{_count(gpus_per_trial, 'GPU')} per trial, but no node of "
                        f"{capacity.where} has both")
    if max_concurrent > slots:
        return (f"{concurrency_field}: {max_concurrent} trials at once, but {capacity.where} "
                f"fits {slots} of {_count(cpus_per_trial, 'CPU')}"
                + (f" and {_count(gpus_per_trial, 'GPU')}" if gpus_per_trial else "")
                + f" each: at most {slots} run at a time")
    return None


def check_trial_devices(trials: list[dict], gpus_per_trial: float, source: str) -> None:
    """A trial that names a GPU must be given one: Ray shows a trial only the GPUs it
    reserved for it, numbered from 0 (``cuda:N`` needs N below ``gpus_per_trial``), and
    with ``gpus_per_trial: 0`` none at all. ``auto`` always fits (the CPU then)."""
    visible = math.ceil(gpus_per_trial)
    for device in sorted({trial["train"]["device"] for trial in trials}):
        if not device.startswith("cuda"):
            continue
        index = int(device.partition(":")[2] or 0)
        if visible == 0:
            raise SpecError(source, "train.device", f"{device} needs a GPU per trial, but "
                            "resources.gpus_per_trial is 0: give the trials a GPU share or "
                            "use device auto")
        if index >= visible:
            shown = "cuda:0" if visible == 1 else f"cuda:0 to cuda:{visible - 1}"
            raise SpecError(source, "train.device", f"{device}: Ray shows a trial only the "
                            f"GPUs it reserves for it, numbered from 0: {shown} here "
                            f"(resources.gpus_per_trial is {gpus_per_trial:g})")
