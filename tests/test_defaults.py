"""Defaults that train: every (method, dataset) pair the sweep expansion accepts, on the
data sets that need no files, trains with its resolved defaults to a finite point that
beats the untrained model; on ``synthetic_concave`` the defaults reproduce the Pareto MTL
paper's picture (weighted sums at the ends of the concave front, WC-AL and Pareto MTL
along it). The test only shrinks data (dataset options) and epochs; every learning rate
and method parameter is the one a sweep without ``train``/``params`` would run."""
from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.errors import SpecError
from orchestrator.expand import expand_sweep
from orchestrator.spec import parse_spec
from trainers import loop
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.trial import run_trial

#: per data set without files: options and epochs of the tiny budget (None: defaults)
TINY = {
    "multidigits": ({"n_train": 640, "n_val": 100, "n_test": 100}, 4),
    "synthetic_concave": ({}, None),   # closed form: the full default run takes a second
}
PROBLEM = DATASETS.get("synthetic_concave")


def embedded_datasets() -> set[str]:
    """Data sets that are built in memory from nothing on disk (never cached)."""
    return {name for name in DATASETS.names()
            if DATASETS.get(name).is_cached(DATASETS.get(name).resolve_options({})) is None}


def sweep(dataset: str, method: str, preferences: dict | None = None) -> list[dict]:
    """The expanded trials of a sweep that sets nothing but the tiny budget; a method
    with architectures of its own names them, as a sweep must."""
    options, epochs = TINY[dataset]
    entry: dict = {"name": method}
    if METHODS.get(method).architectures:
        entry["architectures"] = list(METHODS.get(method).architectures)
    if preferences:
        entry["preferences"] = preferences
    spec = {"name": "defaults", "datasets": [{"name": dataset, **options}], "methods": [entry]}
    if epochs:
        spec["train"] = {"epochs": epochs}
    trials = expand_sweep(parse_spec(spec))
    for trial in trials:
        trial["train"]["device"] = "cpu"   # where it runs, not what it computes
    return trials


def pairs() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(accepted, refused) (dataset, method) pairs of the expansion."""
    accepted, refused = [], []
    for dataset in sorted(TINY):
        for method in METHODS.names():
            try:
                sweep(dataset, method)
                accepted.append((dataset, method))
            except SpecError:
                refused.append((dataset, method))
    return accepted, refused


ACCEPTED, REFUSED = pairs()


def test_the_tiny_budget_covers_every_embedded_dataset():
    assert embedded_datasets() == set(TINY)


def test_only_architectures_that_cannot_read_the_data_are_refused():
    assert [m for d, m in REFUSED if d == "multidigits"] == []
    # stl, kdmtl and mtan train image networks of their own; synthetic_concave's sample
    # is a vector
    assert sorted(m for d, m in REFUSED if d == "synthetic_concave") == ["kdmtl", "mtan", "stl"]
    with pytest.raises(SpecError, match=r"methods\.0\.architectures\.0\.name: architecture "
                                        r"'stl' reads images .* shape \(20,\)"):
        sweep("synthetic_concave", "stl")


def untrained(config: dict, monkeypatch) -> dict:
    """The trial's result with ``fit`` doing nothing: the model as initialised."""
    def no_fit(self, model, data, settings, generator, on_epoch=None):
        stage = loop.StageOutcome("untrained", -1, math.nan, 0.0)
        return loop.FitOutcome([stage], time_phase1_s=0.0)

    with monkeypatch.context() as patch:
        patch.setattr(METHODS.get(config["method"]["name"]), "fit", no_fit)
        return run_trial(config)


def scores_of(result: dict) -> tuple[float, float | None]:
    """Mean test loss and mean test accuracy (None without accuracies) over every
    stored test point (one per evaluation ray) and task; all must be finite."""
    losses, accs = [], []
    for point in result["points"]:
        for scores in point["tasks"].values():
            assert scores["loss"] is not None and math.isfinite(scores["loss"])
            if scores["acc"] is not None:
                assert 0.0 <= scores["acc"] <= 1.0
            if point["split"] == "test":
                losses.append(scores["loss"])
                if scores["acc"] is not None:
                    accs.append(scores["acc"])
    return float(np.mean(losses)), (float(np.mean(accs)) if accs else None)


@pytest.mark.parametrize("dataset,method", ACCEPTED, ids=[f"{d}-{m}" for d, m in ACCEPTED])
def test_defaults_train_better_than_the_untrained_model(dataset, method, monkeypatch):
    config = sweep(dataset, method)[0]
    loss, acc = scores_of(run_trial(config))
    loss0, acc0 = scores_of(untrained(config, monkeypatch))
    assert loss < loss0, (loss, loss0)
    if acc is not None:
        assert acc > acc0 + 0.1, (acc, acc0)


# ------------------------------------------------- synthetic_concave: the paper's picture
# A front point is located by s in [-1, 1] (x = s / sqrt(d) * (1, ..., 1)).

GRID = {"simplex": {"n_partitions": 6}}   # 7 preferences from (0, 0, 1) to (0, 1, 0)


def objective_point(result: dict) -> np.ndarray:
    point = next(p for p in result["points"] if p["split"] == "test")
    return np.array([point["tasks"]["f1"]["loss"], point["tasks"]["f2"]["loss"]])


def front_distance_and_position(point: np.ndarray) -> tuple[float, float]:
    """Distance to the true front and s of the nearest front point."""
    front = PROBLEM.front(4001)   # s from 1 down to -1
    s = np.linspace(1.0, -1.0, 4001)
    gaps = np.linalg.norm(front - point, axis=1)
    return float(gaps.min()), float(s[np.argmin(gaps)])


def largest_gap(positions: list[float]) -> float:
    """The widest stretch of the front (s from -1 to 1) with no solution in it."""
    s = np.sort(np.concatenate([[-1.0, 1.0], positions]))
    return float(np.diff(s).max())


def grid_positions(method: str) -> list[float]:
    """s of each grid preference's solution, each within 0.05 of the true front."""
    positions = []
    for config in sweep("synthetic_concave", method, GRID):
        distance, s = front_distance_and_position(objective_point(run_trial(config)))
        assert distance < 0.05, (method, config["preference"], distance)
        positions.append(s)
    return positions


def test_default_grids_linear_at_the_ends_wc_al_and_pmtl_along_the_concave_front():
    linear = grid_positions("linear")
    assert all(abs(s) > 0.9 for s in linear)      # a weighted sum stops at an end
    assert {np.sign(s) for s in linear} == {-1.0, 1.0}   # ... and finds both ends
    for method in ("wc_al", "pmtl"):
        s = grid_positions(method)
        assert sum(abs(v) < 0.8 for v in s) >= 3, (method, s)   # inside the front too
        assert largest_gap(s) < 0.8, (method, s)
