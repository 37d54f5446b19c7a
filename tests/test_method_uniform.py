"""``uniform``: the mean of the task losses, no preference, one point."""
import pytest
import torch

from trainers.methods import METHODS
from trainers.trial import run_trial

DATA_OPTIONS = {"n_train": 200, "n_val": 60, "n_test": 60}


def config(method, preference):
    return {
        "key": f"test-{method}",
        "dataset": {"name": "multidigits", "options": dict(DATA_OPTIONS)},
        "arch": {"name": "hps", "options": {}},
        "method": {"name": method, "params": METHODS.get(method).resolve_params({}, "multidigits")},
        "preference": preference,
        "seed": 3,
        "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3, "device": "cpu"},
        "runtime": {"threads": 1},
    }


def test_loss_is_the_mean_of_the_task_losses_without_sparsity():
    method = METHODS.get("uniform")(None, METHODS.get("uniform").resolve_params({}, "x"), 3)
    objectives = torch.tensor([100.0, 1.0, 2.0, 6.0])
    assert float(method.loss(objectives)) == pytest.approx(3.0)
    assert method.preference == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])


def test_uniform_trial_equals_linear_with_equal_weights():
    uniform = run_trial(config("uniform", None))
    linear = run_trial(config("linear", [0.0, 0.5, 0.5]))
    assert [p["split"] for p in uniform["points"]] == ["train", "val", "test"]
    for u, l in zip(uniform["points"], linear["points"]):
        assert u["preference"] is None
        for task in ("left", "right"):
            assert u["tasks"][task]["loss"] == pytest.approx(l["tasks"][task]["loss"], rel=1e-5)
            assert u["tasks"][task]["acc"] == pytest.approx(l["tasks"][task]["acc"])
    assert uniform["info"]["best_epoch"] == linear["info"]["best_epoch"]


def test_sweep_refuses_preferences_for_uniform():
    from orchestrator.errors import SpecError
    from orchestrator.expand import expand_sweep
    from orchestrator.spec import parse_spec

    spec = parse_spec({"name": "u", "datasets": ["multidigits"], "methods": [
        {"name": "uniform", "preferences": {"explicit": [[0, 0.5, 0.5]]}}]}, "s.yaml")
    with pytest.raises(SpecError, match="methods.0.preferences"):
        expand_sweep(spec)
    ok = parse_spec({"name": "u", "datasets": ["multidigits"], "methods": ["uniform"]}, "s.yaml")
    (trial,) = expand_sweep(ok)
    assert trial["preference"] is None
