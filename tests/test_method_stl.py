"""``stl``: independent per-task networks, each kept at its own best validation epoch."""
import copy

import pytest
import torch

from trainers import loop
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.methods.stl import SingleTask
from trainers.models import ARCHITECTURES
from trainers.settings import TrainSettings
from trainers.trial import run_trial
from tiny_trials import TINY_DATA, assert_finite_points, tiny_config



def bundle():
    return DATASETS.get("multidigits").build(dict(TINY_DATA))


def stl_net(data):
    return ARCHITECTURES.get("stl")(data.tasks, data.input_shape, "multidigits", {})


class Scripted(SingleTask):
    """Validation curves given in advance: task 0 peaks at epoch 2, task 1 at epoch 0."""

    CURVES = [[0.1, 0.9], [0.5, 0.2], [0.8, 0.4], [0.3, 0.1]]

    def validation_score(self, model, split, tasks, batch_size):
        self.val_task_scores = self.CURVES[self.epoch]
        self.epoch += 1
        return sum(self.val_task_scores) / 2


def test_each_task_keeps_its_own_best_epoch():
    torch.manual_seed(0)
    data = bundle()
    model = stl_net(data)
    method = Scripted(None, SingleTask.resolve_params({"lsuv": False}, "multidigits"), 2)
    method.epoch = 0
    states = []
    fit_data = loop.TrainData(data.tasks, data.splits["train"], data.splits["val"])
    settings = TrainSettings(epochs=4, batch_size=64, lr=1e-2)
    outcome = method.fit(model, fit_data, settings, torch.Generator().manual_seed(0),
                         on_epoch=lambda record: states.append(copy.deepcopy(model.state_dict())))
    assert outcome.info["best_epochs"] == [2, 0]
    assert outcome.best_epoch == 2
    assert outcome.best_val_score == pytest.approx((0.8 + 0.9) / 2)
    # the weights differ between epochs, so the match below identifies the epoch
    assert not torch.equal(states[0]["trunks.0.fc.weight"], states[2]["trunks.0.fc.weight"])
    final = model.state_dict()
    for name, value in final.items():
        epoch = 2 if name.startswith(("trunks.0.", "heads.0.")) else 0
        assert torch.equal(value, states[epoch][name]), name


def test_task_losses_do_not_mix():
    data = bundle()
    model = stl_net(data)
    method = SingleTask(None, SingleTask.resolve_params({}, "multidigits"), 2)
    x, y = data.splits["train"].x[:16], data.splits["train"].y[:16]
    outputs = model(x)
    data.tasks[0].loss(outputs[0], y[:, 0]).backward()
    assert all(p.grad is None for p in model.task_network(1).parameters())
    assert all(p.grad is not None for p in model.task_network(0).parameters())
    assert float(method.loss(torch.tensor([5.0, 1.0, 2.0]))) == 3.0


def test_stl_trial_gives_one_finite_point_per_split():
    result = run_trial(tiny_config("stl", arch="stl"))
    assert_finite_points(result)
    assert len(result["info"]["best_epochs"]) == 2
    assert len(result["info"]["history"][0]["val_task_scores"]) == 2


def test_other_architectures_are_refused():
    data = bundle()
    method = SingleTask(None, SingleTask.resolve_params({}, "multidigits"), 2)
    with pytest.raises(TypeError, match="'stl'"):
        method.build_model(lambda shape: ARCHITECTURES.get("hps")(data.tasks, shape,
                                                                  "multidigits", {}),
                           data.input_shape)


def test_sweep_pairs_stl_only_with_its_architecture():
    from orchestrator.errors import SpecError
    from orchestrator.expand import expand_sweep
    from orchestrator.spec import parse_spec

    bad = parse_spec({"name": "s", "datasets": ["multidigits"], "methods": ["stl"]}, "s.yaml")
    with pytest.raises(SpecError, match="methods.0.name: method 'stl' trains only"):
        expand_sweep(bad)
    spec = parse_spec({"name": "s", "datasets": ["multidigits"], "architectures": ["hps", "stl"],
                       "methods": ["linear", "stl"]}, "s.yaml")
    pairs = sorted((t["method"]["name"], t["arch"]["name"]) for t in expand_sweep(spec))
    assert pairs == [("linear", "hps"), ("linear", "stl"), ("stl", "stl")]


def test_paper_presets():
    assert SingleTask.train_preset("multimnist")["lr"] == 1e-2
    assert SingleTask.train_preset("multimnist")["epochs_per_iteration"] == 30
    assert SingleTask.train_preset("cifar10mnist")["lr"] == 5e-2   # the paper, not the code's 1e-4
    assert METHODS.get("stl") is SingleTask
