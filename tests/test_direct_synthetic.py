"""``synthetic_concave`` with the ``direct`` architecture: the closed-form objectives, the
true front, and whole trials through ``run_trial`` with ``linear`` and ``wc_al`` at their
defaults (the spread of whole preference grids: tests/test_defaults.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from orchestrator.expand import expand_sweep
from orchestrator.spec import load_spec
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.models import ARCHITECTURES
from trainers.settings import TrainSettings
from trainers.trial import run_trial

PROBLEM = DATASETS.get("synthetic_concave")


def test_objectives_at_the_two_minimisers_and_the_front():
    d = 20
    ones = torch.ones(d) / math.sqrt(d)
    f = PROBLEM.objectives(ones)
    assert float(f[0]) == pytest.approx(0.0) and float(f[1]) == pytest.approx(1 - math.exp(-4))
    f = PROBLEM.objectives(torch.zeros(d))
    assert torch.allclose(f, torch.full((2,), 1 - math.exp(-1)))
    front = PROBLEM.front(5)
    assert front[0] == pytest.approx([0.0, 1 - math.exp(-4)]) and front[2] == pytest.approx([1 - math.exp(-1)] * 2)
    # concave: the middle of the front lies above the chord between its ends
    assert front[2].sum() > front[0].sum()


def test_direct_model_is_the_decision_vector():
    torch.manual_seed(0)
    bundle = PROBLEM.build({"d": 7})
    model = ARCHITECTURES.get("direct")(bundle.tasks, bundle.input_shape, "synthetic_concave", {})
    assert [p.shape for p in model.parameters()] == [torch.Size([7])]
    assert float(model.x.detach().abs().max()) <= 0.5
    out = model(bundle.splits["train"].x)
    assert len(out) == 2 and out[0].shape == (1, 1)
    assert torch.allclose(torch.cat(out).reshape(-1), PROBLEM.objectives(model.x))
    loss = bundle.tasks[0].loss(out[0], bundle.splits["train"].y[:, 0])
    loss.backward()
    assert model.x.grad is not None and float(loss.detach()) == pytest.approx(float(out[0].detach()))
    with pytest.raises(ValueError, match="closed-form problem"):
        ARCHITECTURES.get("direct")(bundle.tasks, (1, 10, 10), "multidigits", {})


def config(method, preference):
    """A trial with the method's defaults for this problem (the layers the expansion uses)."""
    method_cls = METHODS.get(method)
    settings = TrainSettings.resolve(method_cls.train_preset("synthetic_concave", "direct"))
    return {"key": f"synthetic-{method}", "dataset": {"name": "synthetic_concave", "options": {"d": 20}},
            "arch": {"name": "direct", "options": {}},
            "method": {"name": method, "params": method_cls.resolve_params({}, "synthetic_concave", "direct")},
            "preference": preference, "seed": 0, "train": settings.as_dict(), "runtime": {"threads": 1}}


def objective_point(result, split="test"):
    point = next(p for p in result["points"] if p["split"] == split)
    assert point["tasks"]["f1"]["acc"] is None
    return np.array([point["tasks"]["f1"]["loss"], point["tasks"]["f2"]["loss"]])


def distance_to_front(point):
    return float(np.min(np.linalg.norm(PROBLEM.front(4001) - point, axis=1)))


def test_linear_reaches_an_end_of_the_concave_front():
    result = run_trial(config("linear", [0.0, 0.5, 0.5]))
    point = objective_point(result)
    assert distance_to_front(point) < 1e-3
    assert min(point) < 0.01   # a weighted sum cannot stop inside a concave front


def test_wc_al_reaches_the_middle_of_the_concave_front():
    result = run_trial(config("wc_al", [0.0, 0.5, 0.5]))
    point = objective_point(result)
    middle = 1 - math.exp(-1)
    assert point == pytest.approx([middle, middle], abs=0.01)
    assert distance_to_front(point) < 0.01
    assert result["points"][0]["n_params"] == 20


def test_sweep_defaults_pick_direct(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ndatasets: [{name: synthetic_concave, d: 5}]\nmethods: [{name: linear}]\n")
    trials = expand_sweep(load_spec(spec))
    assert trials[0]["arch"]["name"] == "direct"
    assert trials[0]["train"]["optimizer"] == "sgd" and trials[0]["train"]["batch_size"] == 1
