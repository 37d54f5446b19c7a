"""Trial configs on tiny embedded data, the models tests build, and the checks every
whole-trial test makes.

One place for the shape of a trial config in tests (orchestrator/expand.py makes the
real ones), so a new method's test says only what differs."""
from __future__ import annotations

import math
from typing import Any

from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.models import ARCHITECTURES

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


def adult_mlp(shape: tuple[int, ...]):
    """The adult data set's MLP for inputs of ``shape``: a builder for ``build_model``."""
    return ARCHITECTURES.get("mlp")(DATASETS.get("adult").tasks, shape, "adult", {})


def assert_finite_points(result: dict[str, Any]) -> None:
    """Every split is evaluated and every task has a finite loss and an accuracy in [0, 1]."""
    assert {p["split"] for p in result["points"]} == {"train", "val", "test"}
    for point in result["points"]:
        for scores in point["tasks"].values():
            assert math.isfinite(scores["loss"]) and 0.0 <= scores["acc"] <= 1.0


def assert_one_point_per_ray(points: list[dict[str, Any]], rays: list[list[float]]) -> None:
    """A front-learning trial's points: in every split one per evaluation ray, in ray order."""
    for split in ("train", "val", "test"):
        mine = [p for p in points if p["split"] == split]
        assert [p["ray_index"] for p in mine] == list(range(len(rays)))
        assert [p["preference"] for p in mine] == rays


def timeless(value):
    """``value`` without its wall-clock fields (keys naming a time), which are the only
    fields two runs of the same trial may differ in."""
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if "time" not in k}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value
