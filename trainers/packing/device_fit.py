"""How many members of a pack train at once on this worker's device (``pack: auto``).

The driver forms ``auto`` packs before any worker runs, so where trials get a GPU it
forms them up to a bound (orchestrator/packs.py ``AUTO_PACK_GPU``) and the worker, which
has the device, trains each pack in chunks that fit: it measures the peak device memory
of building members and training one lock-step batch at 1 and at 2 members (after a
warm-up, so one-off workspaces are not counted), which gives a fixed part and a part per
member, and fits as many members as its share of the device holds (``fitting_members``).
On the CPU the chunks keep the CPU rule (``CPU_CHUNK`` members).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from contract.trial import TrialConfig
from trainers import loop
from trainers.datasets import DatasetBundle
from trainers.reproducibility import reproducible
from trainers.settings import resolve_device

#: the CPU's ``auto`` pack size (orchestrator.packs.AUTO_PACK): chunks of a GPU-formed
#: pack that lands on a CPU worker
CPU_CHUNK = 8
#: the fraction of the room left that the members may fill: allocator fragmentation, the
#: one-off peaks of a stage's end (checkpoints, validation) and other processes' growth
MEMORY_MARGIN = 0.8


def fitting_members(free_bytes: int, total_bytes: int, share: float, member_bytes: int,
                    n_trials: int, held_bytes: int = 0, fixed_bytes: int = 0,
                    margin: float = MEMORY_MARGIN) -> int:
    """Members that fit at once: the room is the device's free memory, but at most this
    trial's ``share`` of the whole device less what it already holds (data, caches),
    less the fixed part of a pack's step; ``margin`` of it is filled with members of
    ``member_bytes`` each. At least 1, at most ``n_trials``."""
    if member_bytes <= 0:
        raise ValueError(f"a member's footprint must be positive, got {member_bytes} bytes")
    room = min(free_bytes, share * total_bytes - held_bytes) - fixed_bytes
    return max(1, min(n_trials, math.floor(margin * room / member_bytes)))


def chunk_sizes(n: int, size: int) -> list[int]:
    """``n`` members in ceil(n / size) chunks whose sizes differ by at most one."""
    count = math.ceil(n / max(1, size))
    base, extra = divmod(n, count)
    return [base + (1 if index < extra else 0) for index in range(count)]


def probe_step(configs: list[TrialConfig], bundle: DatasetBundle, data: loop.TrainData,
               device: torch.device) -> list[Any]:
    """Build ``configs`` as pack members and train one lock-step batch, as a pack's first
    step does (members initialised, stacked weights in the pack's precision, optimiser
    moments, activations and gradients), then validate them as the pack does (one
    batched pass over every member where it uses one); returns each member's checkpoint
    copy (what ``BestValidation`` keeps), so a caller measuring the peak sees them too."""
    from trainers import precision
    from trainers.packing.loop import BatchOrder, train_steps, validate
    from trainers.packing.optim import PackedOptimizer
    from trainers.packing.train import assemble, build_member
    from trainers.trial import trial_precision

    settings = configs[0].train
    ran = trial_precision(configs[0], bundle, device)
    members = [build_member(config, bundle, data, device) for config in configs]
    pack, path = assemble(members, ran, data, settings, device)
    optimizer = PackedOptimizer(settings, pack.tensors(), pack.stacked.size)
    order = BatchOrder(pack, list(range(len(members))))
    with precision.using(path):
        train_steps(pack, optimizer, float(settings.lr), order, pack.alive.clone(),
                    stop=lambda: True)
        pack.to_members(list(range(len(members))))
        if not validate(pack):  # the pack validates member by member: one member at a time
            first = members[0]
            first.method.validation_score(first.model, data.val, data.tasks,
                                          settings.eval_batch_size)
    return [loop.snapshot(member.model, member.method) for member in members]


def measured_peak(configs: list[TrialConfig], bundle: DatasetBundle, data: loop.TrainData,
                  device: torch.device) -> int:
    """Device bytes allocated at the peak of ``probe_step`` above what was allocated before."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    kept = probe_step(configs, bundle, data, device)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - before
    del kept
    return peak


def footprint(configs: list[TrialConfig], bundle: DatasetBundle, data: loop.TrainData,
              device: torch.device) -> tuple[int, int]:
    """(fixed bytes, bytes per member) of a pack of ``configs``' kind on ``device``, from
    its peaks at 1 and 2 members (the first run warms up cuBLAS/cuDNN workspaces)."""
    pair = (configs * 2)[:2]
    measured_peak(pair[:1], bundle, data, device)
    one = measured_peak(pair[:1], bundle, data, device)
    two = measured_peak(pair, bundle, data, device)
    member = max(two - one, 1)
    return max(one - member, 0), member


def fitting_size(configs: list[TrialConfig], share: float,
                 host: DatasetBundle | None = None) -> int:
    """How many of ``configs`` (one pack) train at once on their device: on CUDA what
    ``share`` of the device holds (measured), on the CPU at most ``CPU_CHUNK``. ``host``:
    their data set, already loaded (and on the device: it counts as held there)."""
    from trainers.packing.train import device_data

    device = resolve_device(configs[0].train.device)
    if len(configs) == 1:
        return 1
    if device.type != "cuda":
        return min(len(configs), CPU_CHUNK)
    # the pack's own settings before probing: a reused worker's CPU trial left
    # deterministic algorithms on, which cuBLAS refuses without its workspace setting
    reproducible(int(configs[0].seed), configs[0].runtime.threads, device)
    bundle, data = device_data(configs[0], device, host)
    fixed, member = footprint(configs, bundle, data, device)
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info(device)
    held = torch.cuda.memory_reserved(device)
    return fitting_members(free, total, share, member, len(configs), held_bytes=held,
                           fixed_bytes=fixed)
