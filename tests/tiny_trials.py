"""Trial configs on tiny embedded data, and the checks every whole-trial test makes.

One place for the shape of a trial config in tests (orchestrator/expand.py makes the
real ones), so a new method's test says only what differs."""
from __future__ import annotations

import math
from typing import Any

from trainers.methods import METHODS

TINY_DATA = {"n_train": 200, "n_val": 60, "n_test": 60}
TINY_TRAIN = {"epochs": 2, "batch_size": 64, "lr": 3e-3, "device": "cpu"}


def tiny_config(method: str, *, arch: str = "hps", params: dict[str, Any] | None = None,
                preference: list[float] | None = None, train: dict[str, Any] | None = None,
                data: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """A trial of ``method`` on multidigits (tiny splits) with its parameters resolved."""
    return {
        "key": f"test-{method}-{arch}",
        "dataset": {"name": "multidigits", "options": dict(data or TINY_DATA)},
        "arch": {"name": arch, "options": {}},
        "method": {"name": method,
                   "params": METHODS.get(method).resolve_params(params or {}, "multidigits", arch)},
        "preference": preference, "seed": seed,
        "train": {**TINY_TRAIN, **(train or {})},
        "runtime": {"threads": 1},
    }


def assert_finite_points(result: dict[str, Any]) -> None:
    """Every split is evaluated and every task has a finite loss and an accuracy in [0, 1]."""
    assert {p["split"] for p in result["points"]} == {"train", "val", "test"}
    for point in result["points"]:
        for scores in point["tasks"].values():
            assert math.isfinite(scores["loss"]) and 0.0 <= scores["acc"] <= 1.0
