"""COSMOS: the input fusion, the loss formula, ray handling, a few training steps, and a
whole trial (one point per test ray and split) written to and read back from a store."""
import math

import pytest
import torch
from torch import nn

from store.db import open_store
from store.queries import PointFilter, load_points
from tiny_trials import adult_mlp, assert_one_point_per_ray, tiny_config
from trainers import loop
from trainers.datasets import DATASETS, Task
from trainers.methods import METHODS
from trainers.methods.base import ParamError
from trainers.methods.cosmos import cosmos_loss
from trainers.methods.front import evaluation_rays, spread_indices
from trainers.metrics import count_parameters
from trainers.models import ARCHITECTURES, MultiTaskNet
from trainers.models.conditioning import RayConditionedNet
from trainers.preferences import test_rays as paper_test_rays
from trainers.trial import run_trial

COSMOS = METHODS.get("cosmos")
TASKS = (Task("left"), Task("right"))
DATA_OPTIONS = {"n_train": 300, "n_val": 100, "n_test": 100}


def make(n_tasks=2, dataset="multidigits", **params):
    return COSMOS(None, COSMOS.resolve_params(params, dataset), n_tasks)


class Recorder(MultiTaskNet):
    """A backbone that remembers its input."""

    def __init__(self, shape):
        super().__init__()
        self.shape = shape
        self.heads = nn.ModuleList([nn.Linear(1, 1)])

    def forward(self, x):
        self.seen = x
        return [x.flatten(1).sum(1, keepdim=True)]


# ------------------------------------------------------------------ fusion


def test_image_fusion_appends_one_map_per_task_equal_across_the_batch():
    torch.manual_seed(0)
    net = RayConditionedNet(Recorder, (1, 36, 36), n_tasks=2)
    assert net.backbone.shape == (3, 36, 36)
    x = torch.rand(4, 1, 36, 36)
    net.set_ray([0.3, 0.7])
    net(x)
    seen = net.backbone.seen
    assert seen.shape == (4, 3, 36, 36)
    assert torch.equal(seen[:, :1], x)                       # the image is untouched
    maps = net.ray_maps(torch.tensor([0.3, 0.7]))
    assert maps.shape == (1, 2, 36, 36)
    assert torch.equal(seen[:, 1:], maps.expand(4, -1, -1, -1))  # same maps for every sample
    # nearest upsampling of 10x10 maps: 36x36 holds at most 100 distinct values per map
    assert all(len(torch.unique(seen[0, c])) <= 100 for c in (1, 2))
    before = seen[:, 1:].clone()
    net.set_ray([0.9, 0.1])
    net(x)
    assert not torch.equal(net.backbone.seen[:, 1:], before)  # the maps follow the ray


def test_ray_cnn_is_the_papers_transposed_cnn():
    net = RayConditionedNet(Recorder, (1, 36, 36), n_tasks=2)
    layers = [m for m in net.ray_maps.layers if isinstance(m, nn.ConvTranspose2d)]
    assert [(l.kernel_size, l.stride, l.padding, l.bias) for l in layers] == [
        ((4, 4), (1, 1), (0, 0), None), ((6, 6), (2, 2), (1, 1), None)]
    assert net.ray_maps.layers(torch.ones(1, 2, 1, 1)).shape == (1, 2, 10, 10)


def test_feature_fusion_appends_the_ray_itself():
    net = RayConditionedNet(Recorder, (5,), n_tasks=2)
    assert net.backbone.shape == (7,)
    x = torch.rand(3, 5)
    net.set_ray([0.25, 0.75])
    net(x)
    assert torch.equal(net.backbone.seen[:, :5], x)
    assert torch.equal(net.backbone.seen[:, 5:], torch.tensor([[0.25, 0.75]] * 3))


def test_other_input_ranks_are_refused():
    with pytest.raises(ValueError, match="COSMOS conditions"):
        RayConditionedNet(Recorder, (4, 4), n_tasks=2)


def build_lenet(shape):
    return ARCHITECTURES.get("lenet")(TASKS, shape, "multimnist36", {})


def test_conditioned_lenet_has_the_papers_43058_parameters():
    net = make(dataset="multimnist36").build_model(build_lenet, (1, 36, 36))
    assert count_parameters(net) == 43_058
    assert [o.shape for o in net(torch.rand(2, 1, 36, 36))] == [(2, 10), (2, 10)]
    names = [n for n, _ in net.eligible_weights()]
    assert "ray_maps.layers.0.weight" not in names and "ray_maps.layers.2.weight" in names
    assert not any(".heads." in n for n in names)
    assert "backbone.shared.conv1.weight" not in names     # reads the raw (fused) input
    assert len(list(net.all_weights())) == 2 + 5          # ray CNN + conv1, conv2, fc, 2 heads


def test_fairness_mlp_conditioned_has_the_papers_7011_parameters():
    net = make(dataset="adult").build_model(adult_mlp, (88,))
    assert count_parameters(net) == 7_011


# ------------------------------------------------------------------ loss and rays


def test_loss_is_weighted_sum_minus_penalty_times_cosine():
    losses = torch.tensor([1.0, 2.0])
    ray = torch.tensor([0.25, 0.75])
    dot = 0.25 * 1.0 + 0.75 * 2.0
    cosine = dot / (math.sqrt(1 + 4) * math.sqrt(0.25 ** 2 + 0.75 ** 2))
    assert float(cosmos_loss(losses, ray, 2.0)) == pytest.approx(dot - 2.0 * cosine, rel=1e-6)
    assert float(cosmos_loss(losses, ray, 0.0)) == pytest.approx(dot, rel=1e-6)


def test_loss_uses_the_batch_ray_and_ignores_the_sparsity_slot():
    m = make(penalty=3.0)
    m.ray = torch.tensor([0.6, 0.4])
    objectives = torch.tensor([5.0, 1.0, 3.0])
    expected = cosmos_loss(torch.tensor([1.0, 3.0]), m.ray, 3.0)
    assert float(m.loss(objectives)) == pytest.approx(float(expected))


def test_eval_rays_are_the_papers_test_rays_with_k0_zero():
    rays = make().eval_rays()
    assert len(rays) == 25
    assert [r[1:] for r in rays] == paper_test_rays(25)
    assert all(r[0] == 0.0 and math.fsum(r) == pytest.approx(1.0) for r in rays)
    # endpoints excluded (docs/methods/front_learning.md#test-rays)
    assert rays[0][1] == pytest.approx(0.9088, abs=1e-4)
    assert make(test_rays=7).eval_rays() == [[0.0, *r] for r in paper_test_rays(7)]


def test_three_tasks_get_das_dennis_rays_and_a_working_model():
    rays = evaluation_rays(25, 3)
    assert len(rays) == 21 and all(len(r) == 3 for r in rays)   # 5 partitions: 21 <= 25 < 28
    assert all(math.fsum(r) == pytest.approx(1.0) and min(r) >= 0 for r in rays)
    m = make(n_tasks=3)
    tasks = (Task("a"), Task("b"), Task("c"))
    net = m.build_model(lambda s: ARCHITECTURES.get("hps")(tasks, s, "multidigits", {}),
                        (1, 10, 10))
    m.begin_step(net, torch.zeros(1))
    assert m.ray.shape == (3,) and float(m.ray.sum()) == pytest.approx(1.0, abs=1e-6)
    assert len(net(torch.rand(2, 1, 10, 10))) == 3


def test_validation_rays_spread_over_the_front():
    assert spread_indices(25, 5) == [0, 6, 12, 18, 24]
    assert spread_indices(3, 5) == [0, 1, 2]
    assert make(val_rays=1).val_indices == [0]


def test_training_rays_are_reproducible_from_the_torch_seed():
    def draws():
        torch.manual_seed(3)
        m = make(alpha=0.2)
        return [m.sample_ray(torch.device("cpu")).tolist() for _ in range(4)]

    first = draws()
    assert first == draws()
    assert len({tuple(r) for r in first}) == 4
    assert all(sum(r) == pytest.approx(1.0, abs=1e-6) for r in first)


@pytest.mark.parametrize("params, name", [
    ({"penalty": -1.0}, "penalty"), ({"alpha": 0}, "alpha"), ({"alpha": [0.5, -1]}, "alpha"),
    ({"test_rays": 1}, "test_rays"), ({"val_rays": 0}, "val_rays"),
    ({"lr_milestones": [0, 3]}, "lr_milestones"), ({"lr_gamma": 0}, "lr_gamma")])
def test_bad_params_name_the_parameter(params, name):
    with pytest.raises(ParamError) as info:
        COSMOS.resolve_params(params, "multidigits")
    assert info.value.name == name


def test_alpha_list_must_have_one_entry_per_task():
    with pytest.raises(ParamError, match="one value per task"):
        make(n_tasks=3, alpha=[0.1, 0.5])


def test_presets_are_the_cosmos_settings():
    # the code's 2, not the paper text's 8:
    # docs/methods/front_learning.md#cosmos-penalty-on-multi-mnist
    assert COSMOS.resolve_params({}, "multimnist36")["penalty"] == 2.0
    assert COSMOS.resolve_params({}, "multifashion_mnist")["penalty"] == 8.0
    assert COSMOS.resolve_params({}, "default")["alpha"] == [0.1, 0.5]
    assert COSMOS.train_preset("multifashion")["epochs"] == 100
    design_example = COSMOS.resolve_params({"alpha": 1.2, "penalty": 2.0, "test_rays": 25},
                                           "multimnist36")
    assert design_example["test_rays"] == 25


def test_milestones_give_the_papers_multistep_schedule():
    m = make(dataset="multimnist36")
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=1e-3)
    sched = m.lr_scheduler(opt, None)
    lrs = []
    for _ in range(95):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[19] == pytest.approx(1e-3) and lrs[20] == pytest.approx(1e-4)
    assert lrs[40] == pytest.approx(1e-5) and lrs[90] == pytest.approx(1e-7)


# ------------------------------------------------------------------ training


def tiny_batch():
    bundle = DATASETS.get("multidigits").build({"n_train": 64, "n_val": 8, "n_test": 8})
    split = bundle.splits["train"]
    return bundle, split.x, split.y


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    bundle, x, y = tiny_batch()
    m = make(penalty=1.0)
    net = m.build_model(lambda s: ARCHITECTURES.get("hps")(bundle.tasks, s, "multidigits", {}),
                        bundle.input_shape)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def loss_at_middle_ray():
        with torch.no_grad():
            net.set_ray([0.5, 0.5])
            losses = torch.stack([t.loss(o, y[:, i]) for i, (o, t) in
                                  enumerate(zip(net(x), bundle.tasks))])
            return float(cosmos_loss(losses, torch.tensor([0.5, 0.5]), 1.0))

    before = loss_at_middle_ray()
    for _ in range(15):
        loop.step(net, m, bundle.tasks, x, y, opt)
    assert loss_at_middle_ray() < before - 0.1


# ------------------------------------------------------------------ trial and store


def trial_config():
    return {**tiny_config("cosmos", data=DATA_OPTIONS), "key": "00000000000c0505"}


_RESULT = {}


def cosmos_trial():
    if not _RESULT:
        _RESULT["r"] = run_trial(trial_config())
    return _RESULT["r"]


def test_trial_stores_one_point_per_test_ray_and_split():
    points = cosmos_trial()["points"]
    rays = make().eval_rays()
    assert len(points) == 3 * 25
    assert_one_point_per_ray(points, rays)
    losses = [p["tasks"]["left"]["loss"] for p in points if p["split"] == "test"]
    assert len(set(losses)) > 1                              # the rays change the answers
    assert all(math.isfinite(p["tasks"]["right"]["acc"]) for p in points)
    assert {p["n_params"] for p in points} == {points[0]["n_params"]}


def test_trial_checkpoint_score_is_the_mean_over_validation_rays():
    result = cosmos_trial()
    val = {p["ray_index"]: p for p in result["points"] if p["split"] == "val"}
    scores = [sum(t["acc"] for t in val[i]["tasks"].values()) / 2 for i in (0, 6, 12, 18, 24)]
    assert result["info"]["best_val_score"] == pytest.approx(sum(scores) / 5, abs=1e-12)


def test_trial_points_round_trip_through_a_sqlite_store(tmp_path):
    result = cosmos_trial()
    config = trial_config()
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", create=True)
    try:
        store.register_sweep("fronts", "name: fronts\n", {"name": "fronts"}, {})
        store.add_trials("fronts", [config])
        store.record_result(config["key"], result)
        df = load_points(store, PointFilter(method="cosmos", split=None))
    finally:
        store.close()
    assert len(df) == 75
    test = df[df["split"] == "test"].sort_values("ray_index")
    assert test["ray_index"].tolist() == list(range(25))
    for stored_ray, ray in zip(test["preference"], make().eval_rays()):
        assert list(stored_ray) == pytest.approx(ray)
    stored = [p["tasks"]["left"]["loss"] for p in result["points"] if p["split"] == "test"]
    assert test["loss.left"].tolist() == pytest.approx(stored)


def test_the_fused_input_is_in_the_fast_paths_layout():
    """With channels-last the fused image is channels-last too (cat alone makes NCHW,
    which the first convolution would reorder both ways); the plain path keeps cat's."""
    from trainers import precision

    source = DATASETS.get("multidigits")
    shape = source.input_shape_for(source.resolve_options({}))
    net = RayConditionedNet(lambda s: ARCHITECTURES.get("hps")(source.tasks, s, "multidigits", {}),
                            shape, 2)
    x = torch.randn(4, *shape)
    plain = net.fuse(x)
    assert plain.is_contiguous()
    fast = precision.FastPath("bf16", True, "cpu")
    with precision.using(fast):
        fused = net.fuse(fast.batch(x))
    assert fused.shape[1] == shape[0] + 2
    assert fused.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(fused, plain)


def test_training_rays_drawn_in_blocks_are_the_stream_drawn_one_at_a_time():
    # drawn RAY_BLOCK at a time and moved to the device together (no copy per step),
    # past a block's end, the rays are those of one Dir(alpha) draw per step
    import numpy as np

    from trainers.methods.front import RAY_BLOCK

    for n_tasks, alpha in ((2, 1.2), (3, 0.2)):
        method = make(n_tasks=n_tasks, alpha=alpha)
        torch.manual_seed(5)
        drawn = [method.sample_ray(torch.device("cpu")) for _ in range(RAY_BLOCK + 10)]
        torch.manual_seed(5)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        single = [rng.dirichlet(np.full(n_tasks, alpha)).astype(np.float32)
                  for _ in range(RAY_BLOCK + 10)]
        assert all(np.array_equal(ray.numpy(), want) for ray, want in zip(drawn, single))
        assert all(ray.dtype == torch.float32 and ray.shape == (n_tasks,) for ray in drawn)
        # the host's copy of the step's ray (EPO solves on the host) is the same ray
        assert torch.equal(method.host_ray, drawn[-1])
