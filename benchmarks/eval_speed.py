"""Data and evaluation speed: building the embedded data set, loading every data set found
in the cache, one evaluation pass of a trained model over a large test split, and
COSMOS / PHN evaluation over their 25 test rays on it (each point's ``time_eval_s``)."""
from __future__ import annotations

from pathlib import Path

import torch

from benchmarks.common import DATASET, SHIFT, TorchState, timed, trial_config
from benchmarks.machine import load_average
from trainers.datasets import DATASETS
from trainers.trial import run_trial


def data_loads(n: int, data_dir: Path | None) -> None:
    print(f"{'data set':<22} {'from':<9} {'s':>8}")
    source = DATASETS.get(DATASET)
    options = {"n_train": n, "n_val": n // 4, "n_test": n, "shift": SHIFT}
    seconds, _ = timed(source.build, source.resolve_options(options), data_dir)
    print(f"{DATASET + f' ({n} train)':<22} {'embedded':<9} {seconds:>8.3f}")
    for name in DATASETS.names():
        candidate = DATASETS.get(name)
        try:
            options = candidate.resolve_options(None)
            if not candidate.is_cached(options, data_dir):
                continue
        except Exception as error:  # an option without a default: not loadable blind
            print(f"{name:<22} skipped: {error}")
            continue
        seconds, _ = timed(candidate.build, options, data_dir)
        print(f"{name:<22} {'cache':<9} {seconds:>8.3f}")


def evaluation(n_test: int, device: str) -> None:
    state = TorchState()
    print(f"{'trial':<12} {'test N':>7} {'rays':>5} {'eval s':>8} {'s per ray':>9}")
    for method in ("linear", "cosmos", "phn_ls"):
        preference = [0.0, 0.5, 0.5] if method == "linear" else None
        config = trial_config(method, "hps", n_train=256, n_test=n_test, epochs=1,
                              device=device, preference=preference)
        result = run_trial(config)
        state.restore()
        test = [p for p in result["points"] if p["split"] == "test"]
        total = sum(p["time_eval_s"] for p in test)
        print(f"{method + ' / hps':<12} {n_test:>7} {len(test):>5} {total:>8.2f} "
              f"{total / len(test):>9.3f}")


def run(device: torch.device, n_test: int = 20000, data_dir: Path | None = None) -> None:
    print(f"load average: {load_average()}")
    data_loads(n_test, data_dir)
    evaluation(n_test, str(device))
    print(f"load average after: {load_average()}")
