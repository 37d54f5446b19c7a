"""Packed trials (trainers/packing/): a packed member is the unpacked trial.

Per member, the stored points (every split's per-task loss and accuracy), the
checkpoint epoch and the method state of ``train_packed`` equal those of ``run_trial``
on the same config, for every packed method; a member that diverges fails alone;
``packable`` refuses what does not pack, with the reason.

Tolerance: the packed forward and backward run the same float32 arithmetic in batched
kernels (batched matrix products, grouped convolutions), which sum in another order, so
each result differs from the unpacked one by rounding: at most about n * eps32 relative
for a sum of n terms, n <= 1e3 in these networks (the longest is a 1,000-long dot
product of the hidden layer), i.e. 1e-4. A tiny run's few optimiser steps do not
amplify that measurably. An accuracy may then differ by one sample whose two logits tie
within that rounding.
"""
from __future__ import annotations

import math

import pytest
import torch

from tiny_trials import TINY_DATA, timeless, tiny_config
from trainers.loop import TrainingDiverged
from trainers.packing import packable, train_packed
from trainers.packing.optim import PackedOptimizer
from trainers.settings import TrainSettings
from trainers.trial import run_trial

REL = 1e-4
PREFERENCES = [[0.0, 0.2, 0.8], [0.0, 0.5, 0.5], [0.0, 0.8, 0.2]]
#: k0 > 0. Not (0.1, 0.7, 0.2): with the default penalty doubling over 13 iterations its
#: tiny run's loss grows 20x in phase 2, and the unpacked trial alone moves its checkpoint
#: epoch (4 -> 6) between 1 and 2 threads, i.e. under a mere change of summation order
SPARSE = [[0.1, 0.2, 0.7], [0.2, 0.4, 0.4], [0.2, 0.6, 0.2]]
LENET_DATA = {**TINY_DATA, "shift": 8}   # LeNet reads at least 16x16


def configs(method: str, preferences, seeds=(0, 0, 0), arch: str = "hps") -> list[dict]:
    out = []
    for preference, seed in zip(preferences, seeds):
        config = tiny_config(method, arch=arch, preference=preference, seed=seed,
                             data=LENET_DATA if arch == "lenet" else None)
        if arch == "hps":
            config["arch"]["options"] = {"width": 0.5}
        out.append(config)
    return out


def assert_same_trial(unpacked: dict, packed: dict) -> None:
    assert packed["info"]["best_epoch"] == unpacked["info"]["best_epoch"]
    assert len(packed["points"]) == len(unpacked["points"])
    for a, b in zip(unpacked["points"], packed["points"]):
        assert (a["split"], a["ray_index"], a["preference"]) == \
            (b["split"], b["ray_index"], b["preference"])
        n = TINY_DATA[f"n_{a['split']}"]
        for task, scores in a["tasks"].items():
            assert b["tasks"][task]["loss"] == pytest.approx(scores["loss"], rel=REL)
            assert abs(b["tasks"][task]["acc"] - scores["acc"]) <= 1.0 / n + 1e-12
    state_a, state_b = unpacked["info"]["method_state"], packed["info"]["method_state"]
    assert state_a.keys() == state_b.keys()
    for key, value in state_a.items():
        assert state_b[key] == pytest.approx(value, rel=REL, abs=1e-6), key


def check_pack(trials: list[dict]) -> list:
    assert packable(trials) is None
    packed = train_packed(trials)
    for config, member in zip(trials, packed):
        assert isinstance(member, dict), member
        assert_same_trial(run_trial(config), member)
    return packed


@pytest.mark.parametrize("method,preferences,arch", [
    ("linear", PREFERENCES, "hps"),
    ("linear", PREFERENCES, "lenet"),
    ("uniform", [None] * 3, "hps"),
    ("wc_al", PREFERENCES, "hps"),
    ("mgda", [None] * 3, "hps"),
    ("pmtl", PREFERENCES, "hps"),
])
def test_a_packed_member_is_the_unpacked_trial(method, preferences, arch):
    packed = check_pack(configs(method, preferences, arch=arch))
    assert all(member["info"]["pack_size"] == 3 for member in packed)


def test_wc_al_with_sparsity_packs_its_two_phases_per_member():
    # GrOWL prox and caps, Affinity Propagation and tying run per member
    packed = check_pack(configs("wc_al", SPARSE))
    for member in packed:
        assert {r["stage"] for r in member["info"]["history"]} == {"phase1", "phase2"}
        assert "tying" in member["info"] and "phase1" in member["info"]


def test_members_with_different_seeds_keep_their_own_batch_order_and_start():
    packed = check_pack(configs("linear", PREFERENCES, seeds=(0, 1, 0), arch="lenet"))
    # same preference would still differ by seed: the seed reached the member
    assert packed[0]["points"] != packed[1]["points"]


def test_a_diverging_member_fails_alone():
    # k = 1e38 overflows the weighted loss to inf on the first batch: the unpacked trial
    # fails at epoch 0; in the pack that member fails with the same reason, the others
    # train on exactly as they would alone
    preferences = [PREFERENCES[0], [0.0, 1e38, 1e38], PREFERENCES[2]]
    trials = configs("linear", preferences)
    with pytest.raises(TrainingDiverged) as unpacked:
        run_trial(trials[1])
    packed = train_packed(trials)
    assert isinstance(packed[1], str)
    assert packed[1].endswith(str(unpacked.value)) and "TrainingDiverged" in packed[1]
    for i in (0, 2):
        assert_same_trial(run_trial(trials[i]), packed[i])


def test_packable_refuses_what_does_not_pack_with_the_reason():
    base = configs("linear", PREFERENCES)
    assert packable(base) is None
    for field, change in [("train", lambda c: c["train"].update(lr=1e-2)),
                          ("dataset", lambda c: c["dataset"]["options"].update(n_train=100)),
                          ("arch", lambda c: c["arch"]["options"].update(width=1.0)),
                          ("method", lambda c: c["method"]["params"].update(beta1=0.5))]:
        trials = configs("linear", PREFERENCES)
        change(trials[1])
        reason = packable(trials)
        assert reason is not None and f"differ in {field}" in reason
        with pytest.raises(ValueError, match=f"differ in {field}"):
            train_packed(trials)
    assert "does not pack" in packable(configs("cosmos", [None] * 2))
    assert "mode ub" in packable([tiny_config("mgda", params={"mode": "ub"})] * 2)
    assert "k0" in packable(configs("wc_al", [PREFERENCES[0], SPARSE[0]]))
    batchnorm = tiny_config("linear", preference=PREFERENCES[0])
    batchnorm["dataset"] = {"name": "cifar10mnist", "options": {}}
    assert "BatchNorm" in packable([batchnorm])
    assert packable([]) == "no trials to pack"


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_packed_optimiser_is_one_torch_optimiser_per_member(optimizer):
    # member 1 skips the second step: its weights, moments and step count stay, as when
    # the loop does not call its optimiser; Adam's bias correction counts its own steps
    settings = TrainSettings(optimizer=optimizer, lr=0.1)
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, 5, generator=gen)
    grads = [torch.randn(3, 4, 5, generator=gen) for _ in range(3)]
    masks = [torch.tensor([True, True, True]), torch.tensor([True, False, True]),
             torch.tensor([True, True, False])]
    stacked = start.clone()
    packed = PackedOptimizer(settings, [stacked], 3)
    for grad, mask in zip(grads, masks):
        packed.step([grad], settings.lr, mask)
    for i in range(3):
        param = torch.nn.Parameter(start[i].clone())
        torch_opt = (torch.optim.Adam([param], lr=0.1) if optimizer == "adam"
                     else torch.optim.SGD([param], lr=0.1, momentum=settings.momentum))
        for grad, mask in zip(grads, masks):
            if mask[i]:
                param.grad = grad[i].clone()
                torch_opt.step()
        # the same float32 operations, rounded alike up to a fused multiply-add: per step
        # an ulp or two of the largest operand (|w| <= 4 here), for three steps
        assert (stacked[i] - param.detach()).abs().max() <= 3 * 2 * 4 * torch.finfo().eps


def test_the_packed_optimiser_leaves_a_non_finite_member_to_itself():
    settings = TrainSettings(optimizer="adam", lr=0.1)
    stacked = torch.zeros(2, 3)
    packed = PackedOptimizer(settings, [stacked], 2)
    packed.step([torch.tensor([[1.0, 2.0, 3.0], [math.nan] * 3])], 0.1,
                torch.tensor([True, False]))
    assert torch.isfinite(stacked).all() and not stacked[0].eq(0).any()
    assert stacked[1].eq(0).all()


def test_freed_memory_stays_in_the_heap_where_glibc_runs():
    import platform

    from trainers.packing.memory import keep_freed_memory

    assert keep_freed_memory() == (platform.libc_ver()[0] == "glibc")


def assert_fails_alone(monkeypatch, owner, name, broken, trials, failed: int, error: str):
    """With ``owner.name`` replaced by ``broken`` (which breaks member ``failed``), the
    pack ends that member with ``error`` and every other member equals its own trial."""
    monkeypatch.setattr(owner, name, broken)
    packed = train_packed(trials)
    monkeypatch.undo()
    assert packed[failed] == error
    for i in range(len(trials)):
        if i != failed:
            assert_same_trial(run_trial(trials[i]), packed[i])


def test_a_member_whose_weights_fail_fails_alone(monkeypatch):
    # an error in one member's own step code (here its min-norm weights) ends that member
    # with the error; the others' weights, steps and results are untouched
    from trainers.methods.mgda import MGDA

    trials = configs("mgda", [None] * 3, seeds=(0, 1, 2))
    original = MGDA.weights_from_gram
    owner = {}

    def weights(self, gram, losses):
        owner.setdefault("first", self)
        if self is owner["first"]:
            raise FloatingPointError("no descent direction")
        return original(self, gram, losses)

    assert_fails_alone(monkeypatch, MGDA, "weights_from_gram", weights, trials, 0,
                       "FloatingPointError: no descent direction")


@pytest.mark.parametrize("which", ["fp32", "bf16"])
@pytest.mark.parametrize("arch", ["lenet", "hps"])
def test_a_cpu_convnet_pack_steps_each_member_exactly_as_its_trial(arch, which):
    # on the CPU a convolutional network's pack runs each member's own forward and
    # backward (trainers/packing/stacked.py): the very kernels of the unpacked step, so
    # its loss and every gradient equal the trial's bit for bit, in either precision
    from trainers import precision
    from trainers.datasets import DATASETS
    from trainers.methods import METHODS
    from trainers.methods.linear import Linear
    from trainers.models import ARCHITECTURES
    from trainers.packing.methods import packed_method
    from trainers.packing.stacked import StackedModel

    bundle = DATASETS.get("multidigits").build(LENET_DATA, None)
    nets = []
    for seed in range(3):
        torch.manual_seed(seed)
        nets.append(ARCHITECTURES.get(arch)(bundle.tasks, bundle.input_shape, "multidigits", {}))
    params = METHODS.get("linear").resolve_params({}, "multidigits", arch)
    methods = [Linear(p, params, 2) for p in PREFERENCES]
    stacked = StackedModel(nets, which)
    assert stacked.alone
    pack = packed_method(methods, stacked, bundle.tasks)
    x, y = bundle.splits["train"].x[:64], bundle.splits["train"].y[:64]
    grads, report = pack.member_steps([(None, x, y)], [[0, 1, 2]],
                                      torch.ones(3, dtype=torch.bool))
    path = precision.choose(which, nets[0], x.device)
    for i, (net, method) in enumerate(zip(nets, methods)):
        path.prepare(net)
        with path.autocast():
            loss = method.batch_loss(net, bundle.tasks, path.batch(x), y)
        assert torch.equal(report[i], loss.detach())
        for grad, packed in zip(torch.autograd.grad(loss, list(net.parameters())), grads):
            assert torch.equal(packed[i], grad)


def test_a_member_whose_own_step_fails_fails_alone_in_a_convnet_pack(monkeypatch):
    # the member-by-member step (LeNet on the CPU): an error in one member's step ends
    # that member with the error; the others train exactly as before
    from trainers.packing.methods import PackedScalarising

    trials = configs("linear", PREFERENCES, seeds=(0, 1, 0), arch="lenet")
    original = PackedScalarising.member_loss

    def member_loss(self, i, objectives, own):
        if i == 1:
            raise FloatingPointError("member 1 broke")
        return original(self, i, objectives, own)

    assert_fails_alone(monkeypatch, PackedScalarising, "member_loss", member_loss, trials, 1,
                       "FloatingPointError: member 1 broke")


@pytest.mark.parametrize("method,arch", [("linear", "lenet"), ("wc_al", "hps")])
def test_a_cpu_convnet_pack_member_is_its_fp32_trial_bit_for_bit(method, arch):
    # the member-by-member step's loss and gradients are the trial's (above), and the
    # packed optimiser rounds as torch.optim does: every stored figure is equal, not close
    trials = configs(method, PREFERENCES, seeds=(0, 1, 0), arch=arch)
    for config, member in zip(trials, train_packed(trials)):
        alone = run_trial(config)
        assert [p["tasks"] for p in member["points"]] == [p["tasks"] for p in alone["points"]]
        assert member["info"]["method_state"] == alone["info"]["method_state"]
        assert member["info"]["best_epoch"] == alone["info"]["best_epoch"]
        assert [r["train_loss"] for r in member["info"]["history"]] == \
            [r["train_loss"] for r in alone["info"]["history"]]


@pytest.mark.parametrize("method", ["mgda", "pmtl"])
def test_a_packed_gradient_step_reuses_its_first_forward_exactly(monkeypatch, method):
    """The pack weights the first forward's losses, as a trial does, where a fresh forward
    would recompute them: trained members equal a pack forced to run it, bit for bit."""
    from trainers.methods import task_gradients
    from trainers.packing.stacked import StackedModel

    trials = configs(method, PREFERENCES[:2])
    forwards = []
    real = StackedModel.objectives
    monkeypatch.setattr(StackedModel, "objectives",
                        lambda self, *a, **k: forwards.append(1) or real(self, *a, **k))
    reused = train_packed(trials)
    reused_forwards = len(forwards)
    forwards.clear()
    monkeypatch.setattr(task_gradients, "same_marks", lambda *_: False)
    fresh = train_packed(trials)
    assert reused_forwards < len(forwards)
    for a, b in zip(reused, fresh):
        assert not isinstance(a, str) and not isinstance(b, str)
        assert timeless(a["points"]) == timeless(b["points"])
        assert a["info"]["method_state"] == b["info"]["method_state"]
