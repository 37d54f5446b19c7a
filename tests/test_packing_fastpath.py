"""A pack computes in the precision its trials would (train.precision resolved as for one
trial), its bf16 step is the trials' bf16 step within bf16 rounding, and its batched
evaluation gives the members' own evaluation within float32 rounding.

bf16 is forced where the CPU lacks it by faking the CPU flag (trainers/precision.py reads
/proc/cpuinfo's flags): PyTorch then emulates bf16, slower but with the same rounding, so
every test here checks bf16 arithmetic on every CPU.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from trainers import loop, precision
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.methods.linear import Linear
from trainers.models import ARCHITECTURES
from trainers.packing import packable, train_packed
from trainers.packing.loop import batch_evaluation, batched_evaluation
from trainers.packing.stacked import StackedModel
from trainers.trial import run_trial

sys.path.insert(0, str(Path(__file__).parent))
from tiny_trials import tiny_config  # noqa: E402

#: bf16's unit roundoff: 8 significant bits
BF16_U = 2.0 ** -8
#: 36x36 inputs: LeNet costs 2 MFLOP per sample, so ``auto`` picks bf16 where native
LENET_DATA = {"n_train": 200, "n_val": 60, "n_test": 60, "shift": 28}
PREFERENCES = [[0.0, 0.2, 0.8], [0.0, 0.5, 0.5], [0.0, 0.8, 0.2]]


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})


def lenet_pack(requested: str, epochs: int = 2, seeds=(0, 1, 0)) -> list[dict]:
    return [tiny_config("linear", arch="lenet", preference=p, data=LENET_DATA, seed=s,
                        train={"precision": requested, "epochs": epochs})
            for p, s in zip(PREFERENCES, seeds)]


# --- which precision a pack runs ------------------------------------------------------

def test_auto_runs_a_pack_in_bf16_where_a_trial_would(bf16_cpu):
    trials = lenet_pack("auto", epochs=1)
    assert packable(trials) is None
    assert run_trial(trials[0])["precision"] == "bf16"
    assert [member["precision"] for member in train_packed(trials)] == ["bf16"] * 3


def test_auto_runs_a_pack_in_fp32_without_a_bf16_unit(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    trials = lenet_pack("auto", epochs=1)
    assert [member["precision"] for member in train_packed(trials)] == ["fp32"] * 3


def test_bf16_packs_and_without_a_unit_warns_and_runs_fp32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    trials = lenet_pack("bf16", epochs=1)
    assert packable(trials) is None
    with pytest.warns(RuntimeWarning, match="bf16 is not native"):
        packed = train_packed(trials)
    assert [member["precision"] for member in packed] == ["fp32"] * 3


# --- the bf16 step ----------------------------------------------------------------------

def lenet_members(n: int = 3):
    bundle = DATASETS.get("multidigits").build(LENET_DATA, None)
    nets = []
    for seed in range(n):
        torch.manual_seed(seed)
        nets.append(ARCHITECTURES.get("lenet")(bundle.tasks, bundle.input_shape, "multidigits", {}))
    return bundle, nets


def packed_step(nets, bundle, x, y, which: str, loop: bool | None = None):
    stacked = StackedModel(nets, which, loop)
    objectives = stacked.objectives([(None, x, y)], bundle.tasks, None)
    grads = torch.autograd.grad(objectives[:, 1:].sum(), stacked.leaves())
    return objectives.detach(), [g.detach() for g in grads]


@pytest.mark.parametrize("looped", [True, False], ids=["member loop", "vmap"])
def test_a_packed_bf16_step_is_the_trials_bf16_step(looped):
    """Per member, the packed bf16 objectives and gradients against the unpacked trial's
    bf16 step (autocast, channels-last); the CPU loops over a convolutional network's
    members, CUDA (and a network without convolutions) vmaps them with bf16 by hand. Both
    round every layer's operands and outputs to 8 significant bits and accumulate in
    float32, perhaps in another order: the losses agree within two bf16 roundings, the
    gradients (about 4 layers x 2 passes of roundings) within 16, as bf16 against fp32
    does (tests/test_fastpath.py). That the pack did compute in bf16 shows in its
    distance from its own fp32 step."""
    bundle, nets = lenet_members()
    split = bundle.splits["train"]
    x, y = split.x[:64], split.y[:64]
    assert StackedModel(nets, "bf16").loop and not StackedModel(nets, "fp32").loop
    bf16, bf16_grads = packed_step(nets, bundle, x, y, "bf16", looped)
    fp32, _ = packed_step(nets, bundle, x, y, "fp32")
    assert bf16.dtype == torch.float32 and all(g.dtype == torch.float32 for g in bf16_grads)
    assert not torch.allclose(bf16, fp32, rtol=1e-5, atol=0.0)   # bf16 ran
    path = precision.FastPath("bf16", True, "cpu")
    method = Linear([0.0, 0.5, 0.5], METHODS.get("linear").resolve_params({}, "multidigits",
                                                                         "lenet"), 2)
    for i, net in enumerate(nets):
        path.prepare(net)
        with path.autocast():
            alone = loop.objective_vector(net, method, bundle.tasks, path.batch(x), y)
        grads = torch.autograd.grad(alone[1:].sum(), list(net.parameters()))
        assert (bf16[i, 1:] - alone[1:].detach()).abs().max() <= 2 * BF16_U * alone[1:].abs().max()
        flat = torch.cat([g.flatten() for g in grads])
        packed = torch.cat([g[i].flatten() for g in bf16_grads])
        assert float((packed - flat).norm()) <= 16 * BF16_U * float(flat.norm())


def test_bf16_pack_members_are_close_to_their_bf16_trials(bf16_cpu):
    """Whole trials (2 epochs, 8 Adam steps at lr 3e-3): each member against its trial run
    alone in bf16. The two differ by bf16 roundings in every step, which measured 5e-4
    relative on the losses after training (bf16 against fp32 differs as much); 4 bf16
    roundings (1.6%) bound it with room. Near-chance models have near-tied logits, so an
    accuracy may move by a few samples (3 of the 60 of a split)."""
    trials = lenet_pack("bf16")
    packed = train_packed(trials)
    fp32 = train_packed(lenet_pack("fp32"))
    for config, member, plain in zip(trials, packed, fp32):
        alone = run_trial(config)
        assert member["precision"] == alone["precision"] == "bf16"
        assert member["points"] != plain["points"]   # bf16 ran
        for a, b in zip(alone["points"], member["points"]):
            assert a["split"] == b["split"]
            for task, scores in a["tasks"].items():
                assert b["tasks"][task]["loss"] == pytest.approx(scores["loss"], rel=4 * BF16_U)
                assert abs(b["tasks"][task]["acc"] - scores["acc"]) <= 3 / 60 + 1e-12


# --- batched evaluation -----------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [7, 1024])
def test_batched_scores_are_the_members_own_evaluation(batch_size):
    """fp32: the same float32 arithmetic in batched kernels, summed in another order:
    within float32 rounding of the per-batch sums (1e-5 relative, as channels-last
    against NCHW in tests/test_fastpath.py); an accuracy by at most one near-tied sample.
    bf16: within two bf16 roundings of the member's own bf16 pass."""
    bundle, nets = lenet_members()
    split = bundle.splits["val"]
    which = [0, 2]   # a subset: the live members
    stacks = {name: StackedModel(nets, name) for name in ("fp32", "bf16")}
    for which_precision, stacked in stacks.items():
        scores = stacked.scores(which, split, bundle.tasks, batch_size)
        path = precision.FastPath(which_precision, False, "cpu")
        for i, got in zip(which, scores):
            with precision.using(path):
                own = loop.evaluate(nets[i], split, bundle.tasks, batch_size)
            assert got.n == own.n == len(split)
            rel = 1e-5 if which_precision == "fp32" else 2 * BF16_U
            for a, b in zip(got.losses, own.losses):
                assert abs(a - b) <= rel * abs(b)
            for a, b in zip(got.accs, own.accs):
                assert abs(a - b) <= 1 / len(split) + 1e-12


def test_the_pack_batches_evaluation_where_it_pays_and_methods_allow_it():
    bundle, nets = lenet_members(1)
    assert not batch_evaluation(nets[0], torch.device("cpu"))      # grouped convolutions
    assert batch_evaluation(nets[0], torch.device("cuda"))
    mlp = ARCHITECTURES.get("mlp")(DATASETS.get("adult").tasks, (8,), "adult", {})
    assert batch_evaluation(mlp, torch.device("cpu"))
    params = METHODS.get("linear").resolve_params({}, "multidigits", "lenet")
    assert batched_evaluation(Linear([0.0, 0.5, 0.5], params, 2))

    class OwnValidation(Linear):
        def validation_score(self, model, split, tasks, batch_size):
            return 0.0

    assert not batched_evaluation(OwnValidation([0.0, 0.5, 0.5], params, 2))


def test_a_fairness_pack_evaluates_batched_and_stores_the_unpacked_points(tmp_path):
    """The MLP evaluates batched (one forward per split for the pack: every member records
    the pack's time for it) and its points are the unpacked trial's within float32
    rounding (tests/test_packing.py's 1e-4); the DEO accuracy counts hard decisions, which
    a near-zero logit may flip: one sample."""
    from test_fairness import adult_csv

    adult_csv(300, seed=0).to_csv(tmp_path / "adult.csv", index=False)
    trials = []
    for preference in PREFERENCES:
        trials.append({
            "key": f"fair-{preference}", "dataset": {"name": "adult", "options": {}},
            "arch": {"name": "mlp", "options": {}},
            "method": {"name": "linear",
                       "params": METHODS.get("linear").resolve_params({}, "adult")},
            "preference": preference, "seed": 0,
            "train": {"epochs": 2, "batch_size": 64, "lr": 1e-2, "eval_batch_size": 1 << 17,
                      "device": "cpu"},
            "runtime": {"threads": 1, "data_dir": str(tmp_path)}})
    packed = train_packed(trials)
    for split in ("train", "val", "test"):
        times = {next(p["time_eval_s"] for p in m["points"] if p["split"] == split)
                 for m in packed}
        assert len(times) == 1
    for config, member in zip(trials, packed):
        alone = run_trial(config)
        assert member["info"]["best_epoch"] == alone["info"]["best_epoch"]
        for a, b in zip(alone["points"], member["points"]):
            n = len(DATASETS.get("adult").build({}, tmp_path).splits[a["split"]])
            for task, scores in a["tasks"].items():
                assert b["tasks"][task]["loss"] == pytest.approx(scores["loss"], rel=1e-4)
                assert abs(b["tasks"][task]["acc"] - scores["acc"]) <= 1 / n + 1e-12
                assert math.isfinite(b["tasks"][task]["loss"])


@pytest.mark.parametrize("method,preferences,params", [
    ("uniform", [None] * 2, {}),
    ("wc_al", PREFERENCES[:2], {}),
    ("wc_al", [[0.01, 0.5, 0.49], [0.02, 0.4, 0.58]],
     {"phase1_iterations": 1, "phase2_iterations": 1}),
    ("mgda", [None] * 2, {}),
    ("pmtl", PREFERENCES[:2], {}),
])
def test_every_packed_method_trains_and_evaluates_in_bf16(bf16_cpu, method, preferences, params):
    """Each packed schedule (Gram matrices, WC-AL's state, the GrOWL phases and tying)
    runs on the bf16 step with members of different seeds (one forward per seed group)."""
    trials = [tiny_config(method, arch="lenet", params=params, preference=p, data=LENET_DATA,
                          seed=seed, train={"epochs": 1, "precision": "bf16"})
              for seed, p in enumerate(preferences)]
    for member in train_packed(trials):
        assert isinstance(member, dict), member
        assert member["precision"] == "bf16" and member["info"]["pack_size"] == 2
        for point in member["points"]:
            for scores in point["tasks"].values():
                assert math.isfinite(scores["loss"]) and 0.0 <= scores["acc"] <= 1.0


def test_a_cpu_convnet_bf16_pack_member_is_its_bf16_trial_bit_for_bit(bf16_cpu):
    # on the CPU a LeNet pack steps member by member with the trial's own bf16 kernels
    # (autocast, channels-last) and torch.optim's rounding: equal, not within bf16 rounding
    trials = lenet_pack("bf16")
    for config, member in zip(trials, train_packed(trials)):
        alone = run_trial(config)
        assert member["precision"] == alone["precision"] == "bf16"
        assert [p["tasks"] for p in member["points"]] == [p["tasks"] for p in alone["points"]]
        assert [r["train_loss"] for r in member["info"]["history"]] == \
            [r["train_loss"] for r in alone["info"]["history"]]
