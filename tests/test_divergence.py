"""A trial whose training loss or method state turns NaN or infinite fails with the stage,
epoch and value named, and stores no point: the loop's once-per-epoch check, the
Ray trainable's error report, and the store's failed row with no points."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from orchestrator.expand import trial_key
from orchestrator.progress import SweepProgress
from orchestrator.runner import ERROR_KEY, RESULT_KEY, SweepOutcome, trial_trainable
from store.db import open_store
from store.queries import PointFilter, list_trials, load_points
from tiny_trials import tiny_config
from trainers.loop import TrainingDiverged, check_finite
from trainers.methods import METHODS
from trainers.trial import run_trial

OWN_ARCH = {"stl": "stl", "kdmtl": "kdmtl", "mtan": "mtan"}


def diverging(method: str, **train) -> dict:
    """A one-epoch tiny trial of ``method`` with ``train`` overrides, as a config (the
    expansion would refuse ``.inf``: this is what reaches a trial if anything slips)."""
    preference = [0.0, 0.5, 0.5] if METHODS.get(method).uses_preference else None
    return tiny_config(method, arch=OWN_ARCH.get(method, "hps"), preference=preference,
                       train={"epochs": 1, **train})


@pytest.mark.parametrize("method", METHODS.names())
def test_an_infinite_learning_rate_fails_the_trial_at_epoch_0(method):
    with pytest.raises(TrainingDiverged, match=r"epoch 0: the training loss is nan"):
        run_trial(diverging(method, lr=math.inf))


def test_a_huge_step_and_a_nan_start_of_t_fail_wc_al_with_their_reason():
    with pytest.raises(TrainingDiverged, match=r"stage train, epoch 0: the training loss is nan"):
        run_trial(diverging("wc_al", lr=1e6))
    config = diverging("wc_al")
    config["method"]["params"]["t_init"] = math.nan   # past the spec check, as a direct call
    with pytest.raises(TrainingDiverged, match="stage train, epoch 0: the training loss is nan"):
        run_trial(config)


def test_the_epoch_check_names_a_non_finite_method_state():
    check_finite("train", 3, torch.tensor(1.5), {"t": 0.2, "lambda": [0.1, 0.3], "ray": 2})
    with pytest.raises(TrainingDiverged, match=r"stage phase2, epoch 3: method state "
                                               r"lambda = \[0.1, inf\]"):
        check_finite("phase2", 3, torch.tensor(1.5), {"t": 0.2, "lambda": [0.1, math.inf]})
    with pytest.raises(TrainingDiverged, match="the training loss is inf"):
        check_finite("train", 0, torch.tensor(math.inf), {})


def test_the_trainable_reports_the_divergence_and_the_store_keeps_no_point(tmp_path, monkeypatch):
    from ray import tune

    reports: list[dict] = []
    monkeypatch.setattr(tune, "report", reports.append)
    config = diverging("linear", lr=math.inf)
    config["key"] = trial_key(config)
    trial_trainable({"trial": config})
    assert len(reports) == 1 and RESULT_KEY not in reports[0]
    assert "TrainingDiverged" in reports[0][ERROR_KEY] and "epoch 0" in reports[0][ERROR_KEY]

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", create=True)
    store.register_sweep("s", "name: s\n", {"name": "s"}, {})
    store.add_trials("s", [config])
    outcome = SweepOutcome()
    from orchestrator.tune_hooks import StoreWriter  # imports Ray: only where it is used

    writer = StoreWriter(store, outcome, SweepProgress(1, enabled=False))
    writer.on_trial_result(0, [], SimpleNamespace(config={"trial": config}), reports[0])
    trials = list_trials(store, PointFilter())
    assert list(trials["status"]) == ["failed"]
    assert "training diverged" in trials["error"].iloc[0]
    assert load_points(store, PointFilter()).empty
    assert config["key"] in outcome.failed
