"""Does bf16 keep the accuracy? The weighted sum (linear, k = (0, 0.5, 0.5)) on LeNet
trained on Multi-Fashion (built from the Fashion-MNIST IDX files, e.g. Debian's
/usr/share/datasets/fashion-mnist) for a few epochs, per seed in fp32 and in bf16; prints
the mean test accuracy of the two tasks of each run, the bf16 - fp32 difference in points
and the training time, then the means over seeds. The target: bf16's mean within 0.3
points of fp32's. One seed's difference also holds the run-to-run spread of a short
training (the first bf16 rounding sends the trajectory elsewhere), so the fp32 spread
between seeds is printed beside it. A CPU without native bf16 runs the bf16 request in
fp32 (trainers/precision.py); the table says what ran."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trainers.methods import METHODS
from trainers.trial import run_trial

DATASET, ARCH = "multifashion", "lenet"
TARGET_POINTS = 0.3


def config(precision: str, seed: int, n_train: int, epochs: int,
           data_dir: Path | None) -> dict[str, Any]:
    return {
        "key": f"bench-{precision}-{seed}",
        "dataset": {"name": DATASET, "options": {"n_train": n_train}},
        "arch": {"name": ARCH, "options": {}},
        "method": {"name": "linear",
                   "params": METHODS.get("linear").resolve_params({}, DATASET, ARCH)},
        "preference": [0.0, 0.5, 0.5], "seed": seed,
        "train": {"epochs": epochs, "batch_size": 256, "lr": 1e-3, "device": "cpu",
                  "precision": precision},
        "runtime": {"threads": torch.get_num_threads(),
                    "data_dir": None if data_dir is None else str(data_dir)},
    }


def test_accuracy(result: dict[str, Any]) -> float:
    """Mean test accuracy over the tasks, in percent."""
    test = next(p for p in result["points"] if p["split"] == "test")
    accs = [scores["acc"] for scores in test["tasks"].values()]
    return 100.0 * sum(accs) / len(accs)


def run(n_train: int = 120000, epochs: int = 3, seeds: tuple[int, ...] = (0, 1),
        data_dir: Path | None = None) -> list[dict[str, Any]]:
    print(f"{DATASET} / {ARCH} / linear, n_train {n_train}, {epochs} epochs, batch 256, "
          f"{torch.get_num_threads()} threads; test accuracy = mean of the two tasks")
    print(f"{'seed':>4} {'fp32 %':>8} {'bf16 %':>8} {'ran':>5} {'diff pts':>9} "
          f"{'fp32 s':>7} {'bf16 s':>7}")
    rows = []
    for seed in seeds:
        runs = {p: run_trial(config(p, seed, n_train, epochs, data_dir)) for p in ("fp32", "bf16")}
        acc = {p: test_accuracy(r) for p, r in runs.items()}
        rows.append({"seed": seed, "fp32": acc["fp32"], "bf16": acc["bf16"],
                     "ran": runs["bf16"]["precision"], "diff": acc["bf16"] - acc["fp32"],
                     "fp32_s": runs["fp32"]["time_train_s"], "bf16_s": runs["bf16"]["time_train_s"]})
        r = rows[-1]
        print(f"{seed:>4} {r['fp32']:>8.2f} {r['bf16']:>8.2f} {r['ran']:>5} {r['diff']:>+9.2f} "
              f"{r['fp32_s']:>7.1f} {r['bf16_s']:>7.1f}", flush=True)
    worst = max(abs(r["diff"]) for r in rows)
    fp32 = [r["fp32"] for r in rows]
    mean_fp32, mean_bf16 = sum(fp32) / len(rows), sum(r["bf16"] for r in rows) / len(rows)
    mean_diff = mean_bf16 - mean_fp32
    print(f"mean over seeds: fp32 {mean_fp32:.2f} %, bf16 {mean_bf16:.2f} %, difference "
          f"{mean_diff:+.2f} points (target |.| <= {TARGET_POINTS}: "
          f"{'met' if abs(mean_diff) <= TARGET_POINTS else 'missed'}); largest per-seed "
          f"|bf16 - fp32| {worst:.2f}, fp32 spread between seeds {max(fp32) - min(fp32):.2f}")
    return rows
