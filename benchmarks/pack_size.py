"""What ``pack: auto`` chooses on this device: per architecture, the measured fixed part
and per-member part of a pack's device memory (trainers/packing/device_fit.py), the
free memory, and K for a whole GPU and for a quarter of one (``gpus_per_trial: 0.25``).
On the CPU there is nothing to measure: ``auto`` keeps its rule (``CPU_CHUNK``).
"""
from __future__ import annotations

import torch

from benchmarks.pack import ARCHS, pack_configs
from contract.trial import TrialConfig
from trainers import loop
from trainers.datasets import DatasetBundle
from trainers.packing import device_fit
from trainers.trial import load_dataset

MIB = 2**20
HEADER = f"{'arch':<8}{'fixed MiB':>10}{'member MiB':>12}{'free GiB':>10}{'K (1 GPU)':>11}{'K (0.25)':>10}"


def run(device: torch.device, k: int = 64, dataset: str = "multidigits", n_train: int = 2048,
        n_test: int = 512, batch: int = 256) -> list[dict]:
    """Print one row per architecture for a pack of ``k`` linear trials; returns the rows."""
    print(f"linear packs of {k}, {dataset} n_train={n_train}, batch {batch}, on {device}")
    if device.type != "cuda":
        print(f"on the CPU, auto packs hold at most {device_fit.CPU_CHUNK} members")
        return []
    print(HEADER)
    rows = []
    for arch in ARCHS:
        configs = [TrialConfig.from_plain(c) for c in pack_configs(
            arch, k, dataset, n_train, n_test, 1, batch, str(device), torch.get_num_threads())]
        host = load_dataset(configs[0])
        splits = {name: split.to(device) for name, split in host.splits.items()}
        bundle = DatasetBundle(host.name, host.tasks, host.input_shape, splits, host.info)
        data = loop.TrainData(bundle.tasks, splits["train"], splits["val"])
        fixed, member = device_fit.footprint(configs, bundle, data, device)
        del bundle, data, splits
        torch.cuda.empty_cache()
        free, _ = torch.cuda.mem_get_info(device)
        row = {"arch": arch, "fixed": fixed, "member": member, "free": free,
               "k1": device_fit.fitting_size(configs, 1.0),
               "k025": device_fit.fitting_size(configs, 0.25)}
        rows.append(row)
        print(f"{arch:<8}{fixed / MIB:>10.1f}{member / MIB:>12.1f}{free / 2**30:>10.1f}"
              f"{row['k1']:>11}{row['k025']:>10}", flush=True)
    return rows
