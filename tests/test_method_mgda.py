"""MGDA: the min-norm weights it computes (checked against independently computed
gradients and the closed two-task formula), the normalisations, the weighted step on the
un-normalised losses, exact vs upper-bound mode, and one whole trial."""
import copy
import math

import pytest
import torch

from trainers import loop
from trainers.datasets import DATASETS, Task
from trainers.methods import METHODS
from trainers.methods.base import ParamError
from trainers.models import ARCHITECTURES
from trainers.models.base import NoSharedRepresentation
from trainers.trial import run_trial
from tiny_trials import assert_finite_points, tiny_config

MGDA = METHODS.get("mgda")
SOURCE = DATASETS.get("multidigits")
TASKS = SOURCE.tasks
SHAPE = SOURCE.input_shape_for(SOURCE.resolve_options({}))


def make_method(**params):
    return MGDA(None, MGDA.resolve_params(params, "multidigits"), n_tasks=len(TASKS))


def make_model(arch="hps", tasks=TASKS):
    torch.manual_seed(0)
    return ARCHITECTURES.get(arch)(tasks, SHAPE, "multidigits", {})


def batch(n=32, seed=1, n_tasks=2):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=gen), torch.randint(0, 10, (n, n_tasks), generator=gen)


def task_grads(model, x, y, which="shared"):
    """Per-task gradients by plain backward passes on a copy of ``model``, zeroing before
    each (independent of the method's code)."""
    model = copy.deepcopy(model)
    params = list(model.shared_parameters() if which == "shared" else model.parameters())
    out = []
    for t, task in enumerate(TASKS):
        model.zero_grad()
        task.loss(model(x)[t], y[:, t]).backward()
        out.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                              for p in params]).double())
    model.zero_grad()
    return out


def losses_of(model, x, y):
    with torch.no_grad():
        return [float(task.loss(model(x)[t], y[:, t])) for t, task in enumerate(TASKS)]


def closed_form(g1, g2):
    """argmin_gamma ||gamma g1 + (1 - gamma) g2||^2 over [0, 1]."""
    gamma = float((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)))
    return min(max(gamma, 0.0), 1.0)


def sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)


def test_alpha_is_the_two_task_min_norm_solution_of_the_shared_gradients():
    model, method = make_model(), make_method()
    x, y = batch()
    g1, g2 = task_grads(model, x, y)
    loop.step(model, method, TASKS, x, y, sgd(model))
    gamma = closed_form(g1, g2)
    assert 0.0 < gamma < 1.0  # a genuine trade-off, not a vertex
    assert method.state()["alpha"] == pytest.approx([gamma, 1 - gamma], abs=1e-6)


def test_the_step_uses_unnormalised_losses_and_ignores_stale_gradients():
    model, method = make_model(), make_method(normalization="loss")
    x, y = batch()
    before = copy.deepcopy(model)
    params = list(model.parameters())
    g1, g2 = task_grads(model, x, y, "all")
    for p in params:  # leftovers of an earlier backward must not leak into the step
        p.grad = torch.full_like(p, 5.0)
    loop.step(model, method, TASKS, x, y, sgd(model, lr=0.1))
    a1, a2 = method.state()["alpha"]
    expected = torch.cat([p.detach().flatten() for p in before.parameters()]).double() \
        - 0.1 * (a1 * g1 + a2 * g2)
    after = torch.cat([p.detach().flatten() for p in model.parameters()]).double()
    assert torch.allclose(after, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["loss", "l2", "loss+"])
def test_normalisations_divide_each_gradient_by_their_normaliser(kind):
    model, method = make_model(), make_method(normalization=kind)
    x, y = batch()
    g1, g2 = task_grads(model, x, y)
    l1, l2 = losses_of(model, x, y)
    n = {"loss": (l1, l2), "l2": (g1.norm(), g2.norm()),
         "loss+": (l1 * g1.norm(), l2 * g2.norm())}[kind]
    loop.step(model, method, TASKS, x, y, sgd(model))
    gamma = closed_form(g1 / n[0], g2 / n[1])
    assert method.state()["alpha"] == pytest.approx([gamma, 1 - gamma], abs=1e-6)
    if kind == "l2":  # two unit vectors: the min-norm point is always their midpoint
        assert gamma == pytest.approx(0.5)


def test_normalisations_change_the_weights():
    x, y = batch()
    alphas = {}
    for kind in ("none", "loss", "l2"):
        model, method = make_model(), make_method(normalization=kind)
        loop.step(model, method, TASKS, x, y, sgd(model))
        alphas[kind] = method.state()["alpha"][0]
    assert len({round(a, 6) for a in alphas.values()}) == 3


def test_all_parameter_gradients_include_the_heads():
    model, method = make_model(), make_method(grad_set="all")
    x, y = batch()
    g1, g2 = task_grads(model, x, y, "all")
    loop.step(model, method, TASKS, x, y, sgd(model))
    assert method.state()["alpha"][0] == pytest.approx(closed_form(g1, g2), abs=1e-6)


@pytest.mark.parametrize("arch", ["hps", "lenet", "lenet_pmtl"])
def test_representation_and_heads_reproduce_forward(arch):
    torch.manual_seed(0)
    shape = (1, 36, 36)
    model = ARCHITECTURES.get(arch)(TASKS, shape, "multimnist36", {})
    x = torch.randn(4, *shape)
    direct = model(x)
    split = model.heads_from(model.representation(x))
    assert all(torch.equal(a, b) for a, b in zip(direct, split))


def test_upper_bound_mode_uses_gradients_of_the_shared_representation():
    model, method = make_model(), make_method(mode="ub")
    x, y = batch()
    z = model.representation(x).detach().requires_grad_(True)
    grads = []
    for t, task in enumerate(TASKS):
        (g,) = torch.autograd.grad(task.loss(model.heads_from(z)[t], y[:, t]), z)
        grads.append(g.flatten().double())
    before = [p.detach().clone() for p in model.parameters()]
    loop.step(model, method, TASKS, x, y, sgd(model))
    assert method.state()["alpha"][0] == pytest.approx(closed_form(*grads), abs=1e-6)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_upper_bound_mode_names_an_architecture_without_a_shared_representation():
    model, method = make_model("mdmtn"), make_method(mode="ub")
    x, y = batch()
    with pytest.raises(NoSharedRepresentation, match="MDMTNNet"):
        loop.step(model, method, TASKS, x, y, sgd(model))


@pytest.mark.parametrize("mode", ["exact", "ub"])
def test_training_lowers_the_losses(mode):
    model, method = make_model(), make_method(mode=mode)
    x, y = batch(n=64)
    start = sum(losses_of(model, x, y))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        loop.step(model, method, TASKS, x, y, optimizer)
    end = sum(losses_of(model, x, y))
    assert math.isfinite(end) and end < start - 0.1


def test_three_tasks_give_simplex_weights():
    tasks = (Task("a"), Task("b"), Task("c"))
    model = make_model(tasks=tasks)
    method = MGDA(None, MGDA.resolve_params({}, "multidigits"), n_tasks=3)
    x, y = batch(n_tasks=3)
    loop.step(model, method, tasks, x, y, sgd(model))
    alpha = method.state()["alpha"]
    assert len(alpha) == 3 and min(alpha) >= 0 and sum(alpha) == pytest.approx(1.0)


@pytest.mark.parametrize("name, value", [("normalization", "unit"), ("mode", "approx"),
                                         ("grad_set", "heads"), ("solver", "pgd"),
                                         ("clip", 0.7)])
def test_bad_parameters_are_refused(name, value):
    with pytest.raises(ParamError) as info:
        MGDA.resolve_params({name: value}, "multidigits")
    assert info.value.name == name


def test_presets_follow_the_papers():
    mm = MGDA.train_preset("multimnist", "mdmtn")
    assert (mm["optimizer"], mm["lr"], mm["momentum"], mm["epochs"], mm["batch_size"]) == \
        ("sgd", 1e-2, 0.9, 100, 256)
    assert (mm["lr_decay"], mm["epochs_per_iteration"]) == (0.5, 30)
    assert MGDA.train_preset("multifashion")["optimizer"] == "adam"
    assert MGDA.resolve_params({}, "multimnist")["normalization"] == "none"
    assert not MGDA.uses_preference


def test_whole_trial_gives_finite_points():
    result = run_trial(tiny_config("mgda"))
    assert_finite_points(result)
    assert sum(result["info"]["method_state"]["alpha"]) == pytest.approx(1.0)
