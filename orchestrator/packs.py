"""Packs: trials that differ only in preference and seed, run together as one Ray trial.

Members of a pack share everything else (data set and its options, architecture, method
and its parameters, training settings, runtime), so one worker loads the data once and
trains them one after another, or as one batched model where the trainers can
(trainers/pack.py). Each member stays its own trial in the store. Packs are formed from
the trials a run still has to do, in the expansion's order, so a resumed sweep never
reruns a done member.
"""
from __future__ import annotations

import json
import math
from typing import Any

#: ``pack: auto`` caps packs at this size on the CPU: the size the project's CPU packing
#: target is set at; one batched step of 8 LeNet/HPS members already keeps a few cores
#: busy, and larger packs only delay their members' results
AUTO_PACK = 8
#: ``pack: auto`` with GPUs per trial: the driver's upper bound; the worker, where the GPU
#: is, trains such a pack in chunks of as many members as its share of the free device
#: memory holds (trainers/packing/device_fit.py)
AUTO_PACK_GPU = 64
#: what a pack member may differ in; everything else must be equal
MEMBER_FIELDS = ("key", "sweep", "preference", "seed")


def group_key(trial: dict[str, Any]) -> str:
    """What a trial shares with its pack mates: its plain config without the fields a
    member may differ in, as canonical JSON."""
    shared = {name: value for name, value in trial.items() if name not in MEMBER_FIELDS}
    return json.dumps(shared, sort_keys=True, separators=(",", ":"))


def pack_size(pack: int | str, n_trials: int, max_concurrent: int, gpu: bool = False) -> int:
    """The largest pack for ``resources.pack``: K itself, or for ``auto`` enough members
    per pack to fill ``max_concurrent`` slots with ``n_trials``, at most ``AUTO_PACK``
    (``AUTO_PACK_GPU`` where trials get a GPU: ``gpu``)."""
    if pack != "auto":
        return int(pack)
    cap = AUTO_PACK_GPU if gpu else AUTO_PACK
    return max(1, min(cap, math.ceil(n_trials / max(1, max_concurrent))))


def gpu_share(pack: int | str, gpus_per_trial: float) -> float | None:
    """What a pack's worker sizes its batched chunks against: the fraction of one device
    a trial holds (``gpus_per_trial``, at most 1: a pack trains on one device), for
    ``pack: auto`` with GPUs; None where the pack trains as formed (a fixed K, or no GPU)."""
    if pack != "auto" or gpus_per_trial <= 0:
        return None
    return min(1.0, float(gpus_per_trial))


def group_trials(trials: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """``trials`` in packs of at most ``size`` members that differ only in preference and
    seed. Groups come in the order of their first trial, members in the trials' order;
    a group of n becomes ceil(n / size) packs whose sizes differ by at most one (9 in
    packs of 8 are 5 + 4, not 8 + 1, so packs take about as long)."""
    if size < 1:
        raise ValueError(f"pack size must be at least 1, got {size}")
    groups: dict[str, list[dict[str, Any]]] = {}
    for trial in trials:
        groups.setdefault(group_key(trial), []).append(trial)
    packs = []
    for members in groups.values():
        count = math.ceil(len(members) / size)
        base, extra = divmod(len(members), count)
        start = 0
        for index in range(count):
            end = start + base + (1 if index < extra else 0)
            packs.append(members[start:end])
            start = end
    return packs
