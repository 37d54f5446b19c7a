"""LeNet variants and the fairness MLP: parameter counts from docs/architectures.md
(#lenet, #lenet_pmtl, #mlp), output shapes, and that they train inside a trial."""
import pytest
import torch

from trainers.datasets import Task
from trainers.metrics import count_parameters
from trainers.models import ARCHITECTURES
from trainers.options import OptionError

TWO = (Task("left"), Task("right"))


@pytest.mark.parametrize("width, expected", [(0.5, 20_460), (1.0, 42_350), (10, 863_870)])
def test_multilenet_parameter_counts(width, expected):
    model = ARCHITECTURES.get("lenet")(TWO, (1, 36, 36), "multifashion", {"width": width})
    assert count_parameters(model) == expected


def test_pareto_mtl_lenet_parameter_count_and_outputs():
    model = ARCHITECTURES.get("lenet_pmtl")(TWO, (1, 36, 36), "multimnist36", {})
    assert count_parameters(model) == 31_910
    outputs = model(torch.zeros(3, 1, 36, 36))
    assert [tuple(o.shape) for o in outputs] == [(3, 10), (3, 10)]


@pytest.mark.parametrize("features, expected", [(88, 6_891), (20, 2_811), (90, 7_011)])
def test_fairness_mlp_counts_and_one_shared_logit(features, expected):
    tasks = (Task("income", kind="binary", n_classes=None), Task("deo", kind="fairness", n_classes=None))
    model = ARCHITECTURES.get("mlp")(tasks, (features,), "adult", {})
    assert count_parameters(model) == expected
    outputs = model(torch.randn(4, features))
    assert len(outputs) == 2 and outputs[0] is outputs[1] and outputs[0].shape == (4, 1)
    assert [n for n, _ in model.eligible_weights()] == ["shared.2.weight"]  # not input, not output


def test_lenet_eligible_weights_exclude_input_layer_and_heads():
    model = ARCHITECTURES.get("lenet")(TWO, (1, 36, 36), "multifashion", {})
    names = [n for n, _ in model.eligible_weights()]
    assert names == ["shared.conv2.weight", "shared.fc.weight"]


def test_unknown_option_is_refused():
    with pytest.raises(OptionError, match="unknown option"):
        ARCHITECTURES.get("lenet_pmtl")(TWO, (1, 36, 36), "multifashion", {"width": 2})


def test_lenet_trains_in_a_trial():
    from trainers.methods import METHODS
    from trainers.trial import run_trial

    config = {"key": "0" * 16, "dataset": {"name": "multidigits", "options": {"n_train": 200, "n_val": 50, "n_test": 50, "shift": 10}},
              "arch": {"name": "lenet", "options": {}},
              "method": {"name": "linear", "params": METHODS.get("linear").resolve_params({}, "multidigits")},
              "preference": [0, 0.5, 0.5], "seed": 0, "train": {"epochs": 1, "batch_size": 50}, "runtime": {"threads": 1}}
    result = run_trial(config)
    test = next(p for p in result["points"] if p["split"] == "test")
    assert set(test["tasks"]) == {"left", "right"}
    assert test["n_params"] > 0
