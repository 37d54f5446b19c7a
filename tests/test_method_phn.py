"""Pareto HyperNetworks: the hypernetwork's shapes and size, generated (not trained)
target weights, LS and EPO loss weights, a few training steps, and whole trials."""
import math

import pytest
import torch

from tiny_trials import adult_mlp, assert_one_point_per_ray, tiny_config
from trainers.datasets import DATASETS, Task
from trainers.methods import METHODS
from trainers import loop
from trainers.methods.task_gradients import task_gram
from trainers.metrics import count_parameters, sparsity_metrics
from trainers.models import ARCHITECTURES
from trainers.models.hypernet import ParetoHyperNet
from trainers.trial import run_trial

LS, EPO = METHODS.get("phn_ls"), METHODS.get("phn_epo")
TASKS = (Task("left"), Task("right"))
DATA_OPTIONS = {"n_train": 300, "n_val": 100, "n_test": 100}


def make(cls=LS, n_tasks=2, dataset="multidigits", **params):
    return cls(None, cls.resolve_params(params, dataset), n_tasks)


def pmtl_lenet(shape=(1, 36, 36)):
    return ARCHITECTURES.get("lenet_pmtl")(TASKS, shape, "multimnist36", {})


def test_generated_weights_have_every_target_parameters_shape():
    torch.manual_seed(0)
    target_shapes = {n: p.shape for n, p in pmtl_lenet().named_parameters()}
    net = make().build_model(lambda s: pmtl_lenet(s), (1, 36, 36))
    weights = net.generate()
    assert {n: w.shape for n, w in weights.items()} == target_shapes
    assert sum(w.numel() for w in weights.values()) == 31_910
    assert [o.shape for o in net(torch.rand(3, 1, 36, 36))] == [(3, 10), (3, 10)]


def test_hypernet_for_the_pmtl_lenet_has_the_papers_3243410_parameters():
    net = make().build_model(lambda s: pmtl_lenet(s), (1, 36, 36))
    assert count_parameters(net) == 3_243_410
    assert sum(p.numel() for p in net.ray_mlp.parameters()) == 20_500


def test_hypernet_for_the_adult_mlp_has_the_papers_716491_parameters():
    net = make(dataset="adult").build_model(adult_mlp, (88,))
    assert count_parameters(net) == 716_491


def test_the_target_trains_nothing_and_stores_nothing():
    net = ParetoHyperNet(pmtl_lenet(), n_tasks=2)
    assert all(not n.startswith("target.") for n, _ in net.named_parameters())
    assert all(not k.startswith("target.") for k in net.state_dict())
    sum(out.sum() for out in net(torch.rand(2, 1, 36, 36))).backward()
    assert all(p.grad is not None for p in net.parameters())   # every generator is used
    # metrics describe the hypernetwork: rows are the input neurons of its weight
    # matrices (ray MLP 2 + 100 + 100, then 100 per generator), none of the target's
    assert sparsity_metrics(net)["rows_total"] == 2 + 100 + 100 + 100 * len(net.shapes)
    eligible = {n for n, _ in net.eligible_weights()}
    heads = {f"generators.{i}.weight" for i, n in enumerate(net.target_names)
             if n.startswith("heads.")}
    assert len(heads) == 4 and not heads & eligible and "ray_mlp.0.weight" not in eligible


def test_different_rays_give_different_target_weights_and_outputs():
    torch.manual_seed(0)
    net = make().build_model(lambda s: pmtl_lenet(s), (1, 36, 36))
    a = net.generate(torch.tensor([0.2, 0.8]))
    b = net.generate(torch.tensor([0.8, 0.2]))
    assert all(not torch.allclose(a[n], b[n]) for n in a)
    x = torch.rand(2, 1, 36, 36)
    net.set_ray([0.2, 0.8])
    out_a = net(x)[0]
    make().condition(net, [0.0, 0.8, 0.2])
    assert not torch.allclose(out_a, net(x)[0])


# ------------------------------------------------------------------ loss weights


def tiny_setup(cls, **params):
    torch.manual_seed(0)
    bundle = DATASETS.get("multidigits").build({"n_train": 64, "n_val": 8, "n_test": 8})
    method = make(cls, **params)
    net = method.build_model(
        lambda s: ARCHITECTURES.get("hps")(bundle.tasks, s, "multidigits", {}),
        bundle.input_shape)
    split = bundle.splits["train"]
    return bundle, method, net, split.x, split.y


def losses_of(net, bundle, x, y):
    return torch.stack([t.loss(o, y[:, i]) for i, (o, t) in
                        enumerate(zip(net(x), bundle.tasks))])


def test_ls_weights_are_the_ray():
    bundle, method, net, x, y = tiny_setup(LS)
    method.ray = torch.tensor([0.3, 0.7])
    losses = losses_of(net, bundle, x, y)
    objectives = torch.cat([torch.zeros(1), losses.detach()])
    assert float(method.loss(objectives)) == pytest.approx(
        float(0.3 * losses[0].detach() + 0.7 * losses[1].detach()), rel=1e-6)


def test_task_gram_matches_flattened_gradients():
    bundle, method, net, x, y = tiny_setup(EPO)
    losses = losses_of(net, bundle, x, y)
    params = list(net.parameters())
    gram = task_gram(losses, params)
    grads = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(l, params, retain_graph=True)])
             for l in losses]
    g0, g1 = grads[0].double(), grads[1].double()   # the Gram is float64: compare in it
    assert gram.dtype == torch.float64
    assert gram[0, 1].item() == pytest.approx(float(g0 @ g1), rel=1e-9)
    assert gram[1, 1].item() == pytest.approx(float(g1 @ g1), rel=1e-9)


@pytest.mark.parametrize("ray", [[0.0, 1.0], [1.0, 0.0], [1e-9, 1.0 - 1e-9]])
def test_epo_weights_are_finite_for_rays_with_a_zero_entry(ray):
    bundle, method, net, x, y = tiny_setup(EPO)
    method.ray = torch.tensor(ray)
    losses = losses_of(net, bundle, x, y)
    weights = method.weights_from_gram(task_gram(losses, list(net.parameters())),
                                       losses.detach().double())
    assert torch.isfinite(weights).all()
    assert float(weights.sum()) == pytest.approx(2.0, abs=1e-6)   # beta * J
    assert (weights >= -1e-9).all()


def test_epo_balances_the_weighted_losses():
    # r * L unbalanced towards task 0: EPO's first-order step must not raise r_0 L_0
    bundle, method, net, x, y = tiny_setup(EPO)
    losses = losses_of(net, bundle, x, y)
    method.ray = torch.tensor([0.9, 0.1])
    gram = task_gram(losses, list(net.parameters()))
    weights = method.weights_from_gram(gram, losses.detach().double())
    assert float(-(gram @ weights.to(gram))[0]) <= 1e-6


@pytest.mark.parametrize("cls", [LS, EPO])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(cls):
    bundle, method, net, x, y = tiny_setup(cls)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def middle_loss():
        with torch.no_grad():
            net.set_ray([0.5, 0.5])
            return float(losses_of(net, bundle, x, y).mean())

    before = middle_loss()
    for _ in range(10):
        loop.step(net, method, bundle.tasks, x, y, opt)
    assert torch.isfinite(method.weights).all()
    assert middle_loss() < before - 0.1


def test_paper_defaults():
    # the paper, not the code (docs/methods/front_learning.md#phn-dirichlet-alpha)
    assert LS.resolve_params({}, "multimnist36")["alpha"] == 0.2
    assert EPO.resolve_params({}, "adult")["alpha"] == 0.2
    assert LS.train_preset("multimnist36")["lr"] == 1e-4
    assert LS.train_preset("multimnist36")["epochs"] == 150
    assert EPO.train_preset("compas")["epochs"] == 50
    assert not LS.uses_preference and make().eval_rays()[12] == [0.0, 0.5, 0.5]


# ------------------------------------------------------------------ trials


def trial_config(method):
    key = f"00000000000{'a' if method == 'phn_ls' else 'b'}0505"
    config = tiny_config(method, params={"test_rays": 9}, data=DATA_OPTIONS, train={"lr": 1e-3})
    return {**config, "key": key}


@pytest.mark.parametrize("method", ["phn_ls", "phn_epo"])
def test_trial_stores_one_point_per_test_ray_and_split(method):
    result = run_trial(trial_config(method))
    rays = make(METHODS.get(method), test_rays=9).eval_rays()
    points = result["points"]
    assert len(points) == 3 * 9
    assert_one_point_per_ray(points, rays)
    test_losses = [p["tasks"]["left"]["loss"] for p in points if p["split"] == "test"]
    assert len(set(test_losses)) == 9
    assert all(math.isfinite(p["tasks"]["right"]["loss"]) for p in points)
    source = DATASETS.get("multidigits")
    target = ARCHITECTURES.get("hps")(source.tasks, (1, 10, 10), "multidigits", {})
    n_target = count_parameters(target)
    assert points[0]["n_params"] == 20_500 + 101 * n_target   # the hypernetwork's count
