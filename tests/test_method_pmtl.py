"""Pareto MTL: how a trial's preference picks its ray, phase 1 (no step once feasible,
signed weights), phase 2 (sum |alpha| = m), the spread over the concave synthetic front,
and one whole trial."""
import math

import numpy as np
import pytest
import torch

from trainers import loop
from trainers.datasets import DATASETS, Task
from trainers.methods import METHODS
from trainers.methods.base import ParamError
from trainers.methods.pmtl import reference_rays, rays_for
from trainers.models import ARCHITECTURES
from trainers.trial import run_trial

PMTL = METHODS.get("pmtl")
SOURCE = DATASETS.get("multidigits")
TASKS = SOURCE.tasks
SHAPE = SOURCE.input_shape_for(SOURCE.resolve_options({}))
A = 1 / math.sqrt(2)  # cos 22.5 / (cos 22.5 + sin 22.5): the paper's 2nd ray, sum-1 scaled


def make_method(preference, tasks=TASKS, **params):
    return PMTL(list(preference), PMTL.resolve_params(params, "multidigits"), n_tasks=len(tasks))


def make_model(tasks=TASKS):
    torch.manual_seed(0)
    return ARCHITECTURES.get("hps")(tasks, SHAPE, "multidigits", {})


def batch(n=32, n_tasks=2, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=gen), torch.randint(0, 10, (n, n_tasks), generator=gen)


def losses_of(model, x, y, tasks=TASKS):
    with torch.no_grad():
        return torch.tensor([float(t.loss(out, y[:, i]))
                             for i, (out, t) in enumerate(zip(model(x), tasks))])


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.0)


# ------------------------------------------------------------------ rays


def test_paper_rays_given_as_sum_one_preferences_are_the_papers_unit_vectors():
    for index, pref in enumerate([(1, 0), (A, 1 - A), (0.5, 0.5), (1 - A, A), (0, 1)]):
        rays, k = rays_for(torch.tensor(pref), 5)
        assert k == index
        assert torch.allclose(rays, reference_rays(5, 2), atol=1e-9)


def test_an_off_grid_preference_replaces_the_nearest_reference_ray():
    rays, k = rays_for(torch.tensor([0.55, 0.45]), 5)
    u = torch.tensor([0.55, 0.45], dtype=torch.float64)
    assert k == 2  # 39.3 degrees: nearest to the 45-degree ray
    assert torch.allclose(rays[k], u / u.norm())
    others = [i for i in range(5) if i != k]
    assert torch.allclose(rays[others], reference_rays(5, 2)[others])


def test_three_task_rays_are_unit_das_dennis_directions():
    rays = reference_rays(3, 3)  # 2 partitions: 6 points
    assert rays.shape == (6, 3)
    assert torch.allclose(rays.norm(dim=1), torch.ones(6, dtype=torch.float64))
    assert (rays >= 0).all()
    assert {tuple(np.round(r.numpy(), 6)) for r in rays} >= {(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)}


def test_sparsity_weight_is_refused():
    with pytest.raises(ValueError, match="k0"):
        make_method([0.1, 0.45, 0.45])


@pytest.mark.parametrize("name, value", [("n_rays", 1), ("phase1_epochs", -1), ("grad_set", "heads")])
def test_bad_parameters_are_refused(name, value):
    with pytest.raises(ParamError) as info:
        PMTL.resolve_params({name: value}, "multidigits")
    assert info.value.name == name


# ------------------------------------------------------------------ phase 1


def test_phase1_takes_no_step_when_already_feasible():
    model = make_model()
    x, y = batch()
    losses = losses_of(model, x, y)
    method = make_method([0.0, *(losses / losses.sum()).tolist()])  # u_k along L itself
    before = flat(model)
    optimizer = sgd(model)
    loop.step(model, method, TASKS, x, y, optimizer)
    assert method.feasible and method.phase1_steps == 0
    assert torch.equal(flat(model), before)


def test_phase1_steps_towards_the_region_with_signed_weights():
    model = make_model()
    x, y = batch()
    method = make_method([0.0, 1.0, 0.0])  # u = (1, 0): wants L1 >> L2, far from L1 ~ L2
    before = flat(model)
    loop.step(model, method, TASKS, x, y, sgd(model))
    assert not method.feasible and method.phase1_steps == 1
    assert min(method.state()["weights"]) < 0  # ascent on task 1's loss
    assert not torch.equal(flat(model), before)


def test_phase1_stops_at_the_first_feasible_batch():
    model = make_model()
    x, y = batch(n=64)
    losses = losses_of(model, x, y)
    method = make_method([0.0, *(losses / losses.sum()).tolist()], phase1_epochs=2)
    data = type("Data", (), {})()
    data.tasks = TASKS
    data.train = type("Split", (), {"x": x, "y": y, "__len__": lambda self: len(x)})()
    settings = type("S", (), {"batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.0})()
    before = flat(model)
    method.find_feasible(model, data, settings, torch.Generator().manual_seed(0))
    assert method.feasible and method.phase1_steps == 0
    assert torch.equal(flat(model), before)


# ------------------------------------------------------------------ phase 2


@pytest.mark.parametrize("n_tasks", [2, 3])
def test_phase2_weights_have_absolute_sum_m(n_tasks):
    tasks = tuple(Task(name) for name in "abc"[:n_tasks])
    model = make_model(tasks)
    x, y = batch(n_tasks=n_tasks)
    pref = [0.0] + [0.7] + [0.3 / (n_tasks - 1)] * (n_tasks - 1)
    method = make_method(pref, tasks=tasks)
    method.phase = 2
    before = flat(model)
    loop.step(model, method, tasks, x, y, sgd(model))
    weights = method.state()["weights"]
    assert len(weights) == n_tasks
    assert sum(abs(w) for w in weights) == pytest.approx(n_tasks)
    assert not torch.equal(flat(model), before)


def test_few_steps_lower_the_losses_without_nan():
    model = make_model()
    x, y = batch(n=64)
    method = make_method([0.0, 0.5, 0.5])
    method.phase = 2
    start = float(losses_of(model, x, y).sum())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        loop.step(model, method, TASKS, x, y, optimizer)
    end = float(losses_of(model, x, y).sum())
    assert math.isfinite(end) and end < start - 0.1


# ------------------------------------------------------------------ whole trials


def run(config):
    return run_trial(config)


def synthetic_config(preference):
    train = PMTL.train_preset("synthetic_concave", "direct")
    return {"key": f"pmtl-{preference}", "seed": 0, "preference": preference,
            "dataset": {"name": "synthetic_concave", "options": {"d": 20}},
            "arch": {"name": "direct", "options": {}},
            "method": {"name": "pmtl", "params": PMTL.resolve_params({}, "synthetic_concave")},
            "train": train, "runtime": {"threads": 1}}


def test_rays_spread_over_the_concave_front_in_angle_order():
    front = DATASETS.get("synthetic_concave").front(2001)
    points = []
    for pref in [(1, 0), (A, 1 - A), (0.5, 0.5), (1 - A, A), (0, 1)]:
        result = run(synthetic_config([0.0, *pref]))
        tasks = result["points"][0]["tasks"]
        point = np.array([tasks["f1"]["loss"], tasks["f2"]["loss"]])
        assert np.isfinite(point).all()
        assert np.min(np.linalg.norm(front - point, axis=1)) < 0.03  # on the front
        points.append(point)
    f1 = [p[0] for p in points]
    # u = (1, 0) favours task 2 (large L1); turning u towards (0, 1) moves along the front
    assert all(a > b + 0.05 for a, b in zip(f1, f1[1:]))


def test_whole_trial_on_multidigits_gives_finite_points_from_the_last_epoch():
    config = {
        "key": "test-pmtl", "seed": 0, "preference": [0.0, 0.5, 0.5],
        "dataset": {"name": "multidigits", "options": {"n_train": 200, "n_val": 60, "n_test": 60}},
        "arch": {"name": "hps", "options": {}},
        "method": {"name": "pmtl", "params": PMTL.resolve_params({"phase1_epochs": 1}, "multidigits")},
        "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3, "checkpoint": "last"},
        "runtime": {"threads": 1},
    }
    result = run(config)
    assert [p["split"] for p in result["points"]] == ["train", "val", "test"]
    for point in result["points"]:
        assert point["preference"] == [0.0, 0.5, 0.5]
        for scores in point["tasks"].values():
            assert math.isfinite(scores["loss"]) and 0.0 <= scores["acc"] <= 1.0
    info = result["info"]
    assert info["best_epoch"] == 1  # the last epoch, not the best-validation one
    assert {"pmtl_phase1_steps", "pmtl_phase1_feasible"} <= set(info)
    state = info["method_state"]
    assert state["phase"] == 2 and sum(abs(w) for w in state["weights"]) == pytest.approx(2)


def test_presets_follow_the_paper():
    assert PMTL.train_preset("multidigits")["epochs"] == 100
    assert PMTL.train_preset("multidigits")["checkpoint"] == "last"
    mf = PMTL.train_preset("multifashion", "lenet")
    assert (mf["optimizer"], mf["lr"], mf["batch_size"]) == ("adam", 1e-3, 256)
    assert (mf["lr_decay"], mf["epochs_per_iteration"]) == (0.5, 15)
    assert PMTL.train_preset("multimnist36", "lenet_pmtl")["optimizer"] == "sgd"
    assert PMTL.resolve_params({}, "multidigits")["grad_set"] == "all"
