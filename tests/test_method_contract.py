"""The method contract: a new method is one class, and the shared Gramian path keeps the
arithmetic of the per-method code it replaced (to float32 rounding).

Before the shared path, MGDA and Pareto MTL formed the Gram matrix in float32 (and MGDA
divided the gradients by their normalisers before it); now every gradient-combining method
forms it in float64 from the same float32 gradients (PHN-EPO always did) and MGDA divides
the Gram matrix by n_i n_j. On the tiny trials this moves MGDA's and Pareto MTL's weights
by about 1e-7 and the stored losses by up to 3e-7; every other method is bit-identical."""
from __future__ import annotations

import pytest
import torch

from trainers import loop
from trainers.datasets import DATASETS, Task
from trainers.methods import METHODS
from trainers.methods.base import GradientCombiningMethod, ScalarisingMethod
from trainers.methods.mgda import MGDA
from trainers.methods.task_gradients import flat_gradients, parameter_set, task_gram
from trainers.models import ARCHITECTURES
from trainers.trial import run_trial
from tiny_trials import assert_finite_points, tiny_config

TASKS = (Task("left"), Task("right"))


class Tilted(ScalarisingMethod):
    """A new scalarising method: 2 L_1 + L_2, nothing else."""

    name = "test_tilted"
    calls = 0

    def loss(self, objectives: torch.Tensor) -> torch.Tensor:
        Tilted.calls += 1
        return 2.0 * objectives[1] + objectives[2]


class InverseNorm(GradientCombiningMethod):
    """A new gradient-combining method: each task weighted by 1 / ||g_t||."""

    name = "test_inverse_norm"
    calls = 0

    def weights_from_gram(self, gram: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        InverseNorm.calls += 1
        return 1.0 / gram.diagonal().sqrt()


@pytest.mark.parametrize("cls", [Tilted, InverseNorm])
def test_a_new_method_is_one_class_run_through_a_trial(cls, monkeypatch):
    monkeypatch.setitem(METHODS._items, cls.name, cls)   # unregistered when the test ends
    cls.calls = 0
    config = tiny_config(cls.name, preference=[0.0, 0.5, 0.5], train={"epochs": 1})
    result = run_trial(config)
    assert_finite_points(result)
    assert cls.calls == 4   # 200 training samples in batches of 64: one loss per batch


def batch(n: int = 32):
    bundle = DATASETS.get("multidigits").build({"n_train": n, "n_val": 8, "n_test": 8}, None)
    split = bundle.splits["train"]
    torch.manual_seed(0)
    model = ARCHITECTURES.get("hps")(bundle.tasks, bundle.input_shape, "multidigits", {})
    return model, bundle.tasks, split.x, split.y


def float32_bound(grads: torch.Tensor) -> torch.Tensor:
    """|fl32(<g_i, g_j>) - <g_i, g_j>| <= P u ||g_i|| ||g_j|| (u = 2^-24): the classic
    bound of a float32 dot product of length P (the float64 Gram is exact to 1e-16)."""
    norms = grads.double().norm(dim=1)
    return grads.shape[1] * 2.0 ** -24 * torch.outer(norms, norms)


def test_the_float64_gram_is_the_float32_gram_to_its_rounding():
    model, tasks, x, y = batch()
    method = MGDA(None, MGDA.resolve_params({}, "multidigits"), 2)
    losses = loop.objective_vector(model, method, tasks, x, y)[1:]
    params = parameter_set(model, "shared")
    grads = flat_gradients(losses, params)
    old = (grads @ grads.T).double()      # what MGDA and Pareto MTL computed before
    new = task_gram(losses, params)
    assert new.dtype == torch.float64
    assert ((new - old).abs() <= float32_bound(grads)).all()


def test_mgda_weights_move_by_no_more_than_the_float32_rounding_allows():
    model, tasks, x, y = batch()
    method = MGDA(None, MGDA.resolve_params({}, "multidigits"), 2)
    losses = loop.objective_vector(model, method, tasks, x, y)[1:]
    grads = flat_gradients(losses, parameter_set(model, "shared"))
    a, b, d = (grads @ grads.T).double()[[0, 0, 1], [0, 1, 1]]   # the old float32 Gram
    old = float((d - b) / (a + d - 2 * b))                        # its two-task min-norm weight
    new = float(method.weights_from_gram(task_gram(losses, parameter_set(model, "shared")),
                                         losses.detach().double())[0])
    assert 0.0 < old < 1.0
    # first-order sensitivity of gamma = (d - b) / (a + d - 2b) to the Gram's rounding
    delta = float32_bound(grads)
    denominator = float(a + d - 2 * b)
    bound = (old * delta[0, 0] + (1 - old) * delta[1, 1] + abs(2 * old - 1) * delta[0, 1]) \
        / denominator
    assert abs(new - old) <= 2 * float(bound)   # 2: room for the second-order terms


def test_a_scalarising_loss_has_no_side_effects():
    # WC-AL's constraint average comes from ``observe``, never from ``loss``: a loss
    # evaluated outside training (or many times, one per preference) moves nothing
    wc_al = METHODS.get("wc_al")
    m = wc_al([0.0, 0.5, 0.5], wc_al.resolve_params({"mu0": 1.0}, "multidigits"), 2)
    lam = m.lam.clone()
    m.begin_epoch()
    for _ in range(3):
        m.loss(torch.tensor([0.0, 5.0, 7.0]))
    m.end_iteration()
    assert torch.equal(m.lam, lam)          # no batch observed: lambda keeps its value
    m.begin_epoch()
    m.observe(torch.tensor([0.0, 5.0, 7.0]))
    m.end_iteration()
    assert not torch.equal(m.lam, lam)


def test_a_scalarising_method_without_a_loss_is_refused_when_its_class_is_made():
    from trainers.methods.base import ScalarisingMethod

    with pytest.raises(TypeError, match="define scalarise"):
        type("NoLoss", (ScalarisingMethod,), {"name": "no_loss"})
