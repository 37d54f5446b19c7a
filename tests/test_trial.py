"""``run_trial`` on a tiny multidigits config, plus training-settings layering."""
import math

import pytest
import torch

from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.metrics import count_parameters
from trainers.models import ARCHITECTURES
from trainers.settings import TrainSettings, resolve_device
from trainers.trial import run_trial

DATA_OPTIONS = {"n_train": 300, "n_val": 100, "n_test": 100}
METRIC_KEYS = {"sr", "cr", "ps", "sr_scalar", "cr_scalar", "ps_scalar", "rows_total",
               "rows_zero", "rows_unique", "weights_total", "weights_zero", "weights_unique"}


def make_config(method, preference, seed=0):
    return {
        "key": f"test-{method}-{preference}-{seed}",
        "dataset": {"name": "multidigits", "options": dict(DATA_OPTIONS)},
        "arch": {"name": "hps", "options": {}},
        "method": {"name": method,
                   "params": METHODS.get(method).resolve_params({}, "multidigits")},
        "preference": list(preference),
        "seed": seed,
        "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3},
        "runtime": {"threads": 1},
    }


_CACHE = {}


def trial(method, preference=(0.0, 0.5, 0.5)):
    """Run (once per session) and cache a trial; threads are restored afterwards."""
    key = (method, tuple(preference))
    if key not in _CACHE:
        _CACHE[key] = run_trial(make_config(method, preference))
    return _CACHE[key]


def fresh_model_params():
    source = DATASETS.get("multidigits")
    options = source.resolve_options(DATA_OPTIONS)
    model = ARCHITECTURES.get("hps")(source.tasks, source.input_shape_for(options),
                                     "multidigits", {})
    return count_parameters(model)


def is_finite_number(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.parametrize("method", ["linear", "wc_al"])
def test_trial_returns_one_point_per_split(method):
    result = trial(method)
    points = result["points"]
    assert [p["split"] for p in points] == ["train", "val", "test"]
    n_params = fresh_model_params()
    for p in points:
        assert p["preference"] == [0.0, 0.5, 0.5]
        assert p["ray_index"] == 0
        assert set(p["tasks"]) == {"left", "right"}
        for scores in p["tasks"].values():
            assert is_finite_number(scores["loss"]) and scores["loss"] >= 0.0
            assert is_finite_number(scores["acc"]) and 0.0 <= scores["acc"] <= 1.0
        assert is_finite_number(p["sparsity"]) and p["sparsity"] >= 0.0
        assert set(p["metrics"]) >= METRIC_KEYS
        assert 0.0 <= p["metrics"]["sr"] <= 1.0
        assert p["metrics"]["cr"] >= 1.0
        assert p["metrics"]["rows_total"] == 1 + 256 + 2 * 64
        assert p["n_params"] == n_params
        assert is_finite_number(p["time_train_s"]) and p["time_train_s"] > 0
        assert is_finite_number(p["time_eval_s"]) and p["time_eval_s"] >= 0
    # model-level figures are the same on every split
    assert len({p["sparsity"] for p in points}) == 1
    assert len({p["n_params"] for p in points}) == 1
    assert is_finite_number(result["time_train_s"]) and result["time_train_s"] > 0
    assert result["device"] == "cpu" or result["device"].startswith("cuda")
    assert {"torch", "numpy", "python", "paretoctl"} <= set(result["versions"])


@pytest.mark.parametrize("method", ["linear", "wc_al"])
def test_trial_keeps_the_best_validation_checkpoint(method):
    result = trial(method)
    info = result["info"]
    assert len(info["history"]) == 2
    assert info["best_epoch"] in (0, 1)
    assert info["best_val_score"] == max(h["val_score"] for h in info["history"])
    val = next(p for p in result["points"] if p["split"] == "val")
    mean_val_acc = sum(t["acc"] for t in val["tasks"].values()) / 2
    assert mean_val_acc == pytest.approx(info["best_val_score"], abs=1e-12), \
        "the evaluated model must be the best-validation checkpoint"


def test_last_epoch_checkpoint_keeps_the_final_weights():
    config = make_config("linear", (0.0, 0.5, 0.5))
    config["train"] = {**config["train"], "epochs": 3, "checkpoint": "last"}
    result = run_trial(config)
    info = result["info"]
    assert info["best_epoch"] == 2
    assert info["best_val_score"] == info["history"][-1]["val_score"]
    val = next(p for p in result["points"] if p["split"] == "val")
    mean_val_acc = sum(t["acc"] for t in val["tasks"].values()) / 2
    assert mean_val_acc == pytest.approx(info["history"][-1]["val_score"], abs=1e-12)


def test_unknown_checkpoint_rule_is_refused():
    from trainers.loop import checkpoint_rule
    from trainers.settings import TrainSettings
    with pytest.raises(ValueError, match="unknown checkpoint rule 'median'"):
        checkpoint_rule(TrainSettings(checkpoint="median"))


def test_trial_learns_something():
    # 2 epochs on 300 samples: the training split must beat chance (10%) on both tasks
    train = next(p for p in trial("linear")["points"] if p["split"] == "train")
    for name, scores in train["tasks"].items():
        assert scores["acc"] > 0.15, name


def test_wc_al_state_is_reported():
    state = trial("wc_al")["info"]["method_state"]
    assert set(state) >= {"t", "lambda", "mu", "iterations"}
    assert state["iterations"] == 2   # epochs_per_iteration = 1 in this config
    assert len(state["lambda"]) == 3


def test_same_config_gives_identical_results():
    first = trial("linear")
    second = run_trial(make_config("linear", (0.0, 0.5, 0.5)))
    for a, b in zip(first["points"], second["points"]):
        assert a["split"] == b["split"]
        assert a["tasks"] == b["tasks"]
        assert a["sparsity"] == b["sparsity"]
        assert a["metrics"] == b["metrics"]
    assert first["info"]["best_epoch"] == second["info"]["best_epoch"]


@pytest.mark.parametrize("method", ["linear", "wc_al"])
def test_sparsity_preference_trains(method):
    result = trial(method, (0.2, 0.4, 0.4))
    dense = trial(method)
    for p in result["points"]:
        assert is_finite_number(p["sparsity"]) and p["sparsity"] > 0
        for scores in p["tasks"].values():
            assert is_finite_number(scores["loss"])
            assert 0.0 <= scores["acc"] <= 1.0
    # k0 > 0 puts the GrOWL term into the loss: the trained weights differ from k0 = 0
    # (same seed, same init, same batches)
    assert result["points"][0]["sparsity"] != dense["points"][0]["sparsity"]


def test_linear_sparsity_weight_shrinks_the_growl_value():
    # the L0 gradient is not detached: with k0 > 0 the GrOWL value ends lower than with k0 = 0
    dense = trial("linear")["points"][0]["sparsity"]
    sparse = trial("linear", (0.2, 0.4, 0.4))["points"][0]["sparsity"]
    assert sparse < dense


# ------------------------------------------------------------------ settings


def test_train_settings_defaults():
    s = TrainSettings.resolve()
    assert s == TrainSettings()
    assert s.optimizer == "adam" and s.device == "auto"


def test_train_settings_later_layers_override_earlier():
    s = TrainSettings.resolve({"epochs": 5, "lr": 0.1}, {"lr": 0.01, "batch_size": 32},
                              {"batch_size": 16})
    assert (s.epochs, s.lr, s.batch_size) == (5, 0.01, 16)
    assert s.eval_batch_size == TrainSettings().eval_batch_size


def test_train_settings_none_is_not_set():
    s = TrainSettings.resolve({"epochs": 5, "lr": 0.1}, {"epochs": None}, None, {"lr": None})
    assert (s.epochs, s.lr) == (5, 0.1)


def test_train_settings_unknown_key():
    with pytest.raises(KeyError) as info:
        TrainSettings.resolve({"epochs": 2}, {"epoch": 3})
    assert "epoch" in str(info.value)
    # an unknown key is an error even when its value is not None in an earlier layer only
    with pytest.raises(KeyError):
        TrainSettings.resolve({"lrr": 1.0})


def test_train_settings_as_dict_round_trips():
    s = TrainSettings.resolve({"epochs": 3})
    d = s.as_dict()
    assert d["epochs"] == 3
    assert set(d) == TrainSettings.field_names()
    assert TrainSettings(**d) == s


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
