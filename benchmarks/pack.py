"""Packed trials against one trial at a time: trials per hour.

For linear on LeNet and on HPS: K trials (K preferences on a line, one seed) run
``trainers.trial.run_trial`` one after another (K = 1 at a time), and the same K trials
run as one pack (``trainers.packing.train_packed``), interleaved (A B A B ...), in one
process. Both include everything a trial does in the trainer: data set load, model
build, training, per-epoch validation and the evaluation of the three splits; neither
includes the sweep's fixed overhead (Ray, store). Prints the median trials per hour of
each and their ratio. The warm-up pack sets trainers/packing/memory.py's process-wide
heap thresholds first, so both ways run with them.

Data: ``multidigits`` on the 36x36 MultiMNIST canvas (embedded, no files), or
``multifashion`` (Pareto MTL's Multi-Fashion from the Fashion-MNIST IDX files, e.g.
Debian's, first n composites).
"""
from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.common import SHIFT, TorchState, median
from benchmarks.machine import load_average
from trainers.methods import METHODS
from trainers.packing import train_packed
from trainers.trial import run_trial

ARCHS = ("lenet", "hps")
HEADER = (f"{'case':<16}{'K':>3}{'one at a time /h':>18}{'packed /h':>12}{'ratio':>8}"
          f"{'ran':>11}  load")


def data_options(dataset: str, n_train: int, n_test: int) -> dict[str, Any]:
    if dataset == "multidigits":
        return {"n_train": n_train, "n_val": n_test, "n_test": n_test, "shift": SHIFT}
    return {"n_train": n_train, "n_test": n_test}


def pack_configs(arch: str, k: int, dataset: str, n_train: int, n_test: int, epochs: int,
                 batch: int, device: str, threads: int,
                 precision: str = "auto") -> list[dict[str, Any]]:
    """K linear trials on ``arch`` at preferences (0, a, 1 - a), a evenly in [0, 1]."""
    params = METHODS.get("linear").resolve_params({}, dataset, arch)
    configs = []
    for j in range(k):
        a = j / max(k - 1, 1)
        configs.append({
            "key": f"bench-pack-{arch}-{j}",
            "dataset": {"name": dataset, "options": data_options(dataset, n_train, n_test)},
            "arch": {"name": arch, "options": {}},
            "method": {"name": "linear", "params": params},
            "preference": [0.0, a, 1.0 - a], "seed": 0,
            "train": {"epochs": epochs, "batch_size": batch, "lr": 1e-3, "device": device,
                      "precision": precision},
            "runtime": {"threads": threads},
        })
    return configs


def measure(arch: str, k: int, repeats: int, **kwargs: Any) -> dict[str, Any]:
    configs = pack_configs(arch, k, **kwargs)
    state = TorchState()
    train_packed(configs[:1])   # warm-up: imports, data set cache
    state.restore()
    one, packed = [], []
    ran = set()
    for _ in range(repeats):
        start = time.perf_counter()
        for config in configs:
            ran.add(("one", run_trial(config)["precision"]))
        one.append(time.perf_counter() - start)
        state.restore()
        start = time.perf_counter()
        outcomes = train_packed(configs)
        packed.append(time.perf_counter() - start)
        state.restore()
        failed = [o for o in outcomes if isinstance(o, str)]
        if failed:
            raise RuntimeError(f"a packed member failed: {failed[0]}")
        ran.update(("packed", o["precision"]) for o in outcomes)
    per_hour = (lambda seconds: k * 3600.0 / seconds)
    return {"case": f"linear / {arch}", "k": k, "one": per_hour(median(one)),
            "packed": per_hour(median(packed)), "load": load_average(),
            "ran": "/".join(sorted({p for way, p in ran if way == "one"})) + " " +
                   "/".join(sorted({p for way, p in ran if way == "packed"}))}


def run(device: torch.device, k: int = 8, repeats: int = 3, dataset: str = "multidigits",
        n_train: int = 2048, n_test: int = 512, epochs: int = 1, batch: int = 256,
        threads: int | None = None, precision: str = "auto") -> list[dict[str, Any]]:
    """Print one row per architecture; returns the rows. ``precision`` is the trials'
    ``train.precision``, packed and one at a time alike; ``ran`` is the precision that
    ran one at a time, then packed."""
    threads = threads or torch.get_num_threads()
    print(f"linear, {dataset} n_train={n_train} n_val/n_test={n_test}, {epochs} epoch(s), "
          f"batch {batch}, {threads} thread(s), precision {precision}; trials/hour: median of {repeats} interleaved "
          "repeats; load = load averages after the case")
    print(HEADER)
    rows = []
    for arch in ARCHS:
        row = measure(arch, k, repeats, dataset=dataset, n_train=n_train, n_test=n_test,
                      epochs=epochs, batch=batch, device=str(device), threads=threads,
                      precision=precision)
        rows.append(row)
        print(f"{row['case']:<16}{row['k']:>3}{row['one']:>18.0f}{row['packed']:>12.0f}"
              f"{row['packed'] / row['one']:>8.2f}{row['ran']:>11}  {row['load']}", flush=True)
    return rows
