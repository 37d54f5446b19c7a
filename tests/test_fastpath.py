"""The fast path computes what the plain path computes: train.precision resolves by the
device's bf16 unit and the model's cost, fp32 reproduces the plain loop bit for bit,
channels-last and foreach equal the plain step within float32 rounding, bf16 stays within
its 8-bit mantissa, evaluation equals the per-batch host sums, and the trial and the store
record which precision ran."""
from __future__ import annotations

import math
import sqlite3
import sys
import warnings
from pathlib import Path

import pytest
import torch

from trainers import loop, precision, trial
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.models import ARCHITECTURES
from trainers.settings import TrainSettings

sys.path.insert(0, str(Path(__file__).parent))
from tiny_trials import timeless, tiny_config  # noqa: E402

#: bf16's unit roundoff: 8 significant bits
BF16_U = 2.0 ** -8
LENET_DATA = {"n_train": 200, "n_val": 60, "n_test": 60, "shift": 28}  # 36x36, 2 MFLOP


def never() -> float:
    raise AssertionError("the model's cost must not be asked for")


# --- resolution rules -----------------------------------------------------------------

@pytest.mark.parametrize("unit", [None, "avx512_bf16", "amx_bf16", "cuda_bf16"])
def test_fp32_is_always_fp32(unit):
    assert precision.resolve("fp32", unit, never) == "fp32"


@pytest.mark.parametrize("unit", ["avx512_bf16", "amx_bf16", "cuda_bf16"])
def test_auto_picks_bf16_only_where_native_and_the_model_is_costly(unit):
    threshold = precision.BF16_MIN_MFLOP
    assert precision.resolve("auto", unit, lambda: threshold) == "bf16"
    assert precision.resolve("auto", unit, lambda: 2.0) == "bf16"
    assert precision.resolve("auto", unit, lambda: threshold / 2) == "fp32"
    assert precision.resolve("auto", unit, lambda: None) == "fp32"  # cost unknown


def test_auto_without_a_bf16_unit_is_fp32_without_counting():
    assert precision.resolve("auto", None, never) == "fp32"


def test_auto_keeps_unmeasured_architectures_and_unsafe_methods_fp32():
    assert precision.resolve("auto", "amx_bf16", never, measured=False) == "fp32"
    assert precision.resolve("auto", "amx_bf16", never, unsafe="no dot") == "fp32"
    with pytest.warns(RuntimeWarning, match="train.precision: no dot; running fp32"):
        assert precision.resolve("bf16", "amx_bf16", never, unsafe="no dot") == "fp32"
    assert precision.BF16_ARCHITECTURES == {"lenet", "hps", "mdmtn"}


def test_bf16_asked_for_without_a_unit_warns_and_runs_fp32():
    with pytest.warns(RuntimeWarning, match="train.precision: bf16 is not native"):
        assert precision.resolve("bf16", None, never) == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.resolve("bf16", "avx512_bf16", never) == "bf16"


@pytest.mark.parametrize("flags, unit", [("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "amx_bf16"),
                                         ("fpu avx2 avx512f avx512_bf16", "avx512_bf16"),
                                         ("fpu sse4_2 avx2 fma", None)])
def test_the_cpu_unit_comes_from_the_flags(tmp_path, monkeypatch, flags, unit):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert precision.cpu_flags(cpuinfo) == set(flags.split())
    monkeypatch.setattr(precision, "cpu_flags", lambda: set(flags.split()))
    assert precision.cpu_bf16_unit() == unit
    assert precision.bf16_unit(torch.device("cpu")) == unit


@pytest.mark.parametrize("capability, unit", [("AMX", "amx_bf16"), ("AVX512", None),
                                              ("AVX2", None), ("DEFAULT", None)])
def test_without_cpu_flags_the_unit_comes_from_torchs_capability(monkeypatch, capability, unit):
    # where /proc/cpuinfo is missing: forced, so that every host tests both outcomes
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert precision.cpu_bf16_unit() == unit


@pytest.mark.parametrize("native", [True, False])
def test_the_cuda_unit_is_native_bf16_only(monkeypatch, native):
    asked = {}

    def supported(including_emulation=True):
        asked["emulation"] = including_emulation
        return native

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    assert precision.bf16_unit(torch.device("cuda", 0)) == ("cuda_bf16" if native else None)
    assert asked == {"emulation": False}


def test_channels_last_goes_with_bf16_on_convolutional_models():
    tasks = DATASETS.get("multidigits").build(LENET_DATA, None).tasks
    lenet = ARCHITECTURES.get("lenet")(tasks, (1, 36, 36), "multidigits", {})
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 4))
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert precision.choose("bf16", lenet, cpu) == precision.FastPath("bf16", True, "cpu")
    assert precision.choose("bf16", lenet, cuda) == precision.FastPath("bf16", True, "cuda")
    assert precision.choose("bf16", mlp, cpu) == precision.FastPath("bf16", False, "cpu")
    assert precision.choose("fp32", lenet, cpu) == precision.PLAIN


def test_optimizers_are_fused_on_cuda_and_foreach_elsewhere():
    cpu = [torch.nn.Parameter(torch.zeros(2))]
    assert loop.optimizer_kernel(cpu) == {"foreach": True}
    assert loop.optimizer_kernel([]) == {"foreach": True}
    meta = [torch.nn.Parameter(torch.zeros(2, device="meta"))]
    assert loop.optimizer_kernel(meta) == {"foreach": True}
    adam = loop.make_optimizer(TrainSettings(), cpu)
    assert adam.defaults["foreach"] is True and not adam.defaults["fused"]


def auto_choice(arch: str, data: dict, options: dict | None = None) -> str:
    config = trial.TrialConfig.from_plain(tiny_config("linear", arch=arch, data=data))
    if options:
        config = trial.TrialConfig.from_plain({**config.to_plain(),
                                               "arch": {"name": arch, "options": options}})
    bundle = trial.load_dataset(config)
    return trial.trial_precision(config, bundle, torch.device("cpu"))


def test_auto_on_a_bf16_cpu_keeps_the_small_models_fp32(monkeypatch):
    """The quickstart (HPS at width 0.5 on 10x10) and the test suite's tiny models cost
    below the threshold, so their numbers are the plain fp32 ones on every CPU."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    tiny = {"n_train": 20, "n_val": 10, "n_test": 10}
    assert auto_choice("hps", tiny, {"width": 0.5}) == "fp32"
    assert auto_choice("hps", tiny) == "fp32"
    assert auto_choice("lenet", {**tiny, "shift": 8}) == "fp32"
    assert auto_choice("lenet", {**tiny, "shift": 28}) == "bf16"
    assert auto_choice("mdmtn", {**tiny, "shift": 28}) == "bf16"
    assert auto_choice("mtan", {**tiny, "shift": 28}) == "fp32"  # measured slower in bf16


def test_counting_the_cost_leaves_the_random_state_alone():
    torch.manual_seed(3)
    before = torch.get_rng_state()
    tasks = DATASETS.get("multidigits").build(LENET_DATA, None).tasks
    cost = precision.forward_mflop(
        lambda: ARCHITECTURES.get("lenet")(tasks, (1, 36, 36), "multidigits", {}), (1, 36, 36))
    assert 1.0 < cost < 4.0
    assert torch.equal(torch.get_rng_state(), before)


# --- fp32 is the plain computation ----------------------------------------------------

@torch.no_grad()
def plain_evaluate(model, split, tasks, batch_size):
    """The evaluation before the fast path: per-batch sums moved to the host."""
    model.eval()
    loss_sums = torch.zeros(len(tasks), dtype=torch.float64)
    correct = torch.zeros(len(tasks), dtype=torch.float64)
    for x, y in loop.batches(split, batch_size, None):
        for i, (out, task) in enumerate(zip(model(x), tasks)):
            loss_sums[i] += task.loss(out, y[:, i], reduction="sum").item()
            hits = task.n_correct(out, y[:, i])
            if hits is not None:
                correct[i] += hits.item()
    n = len(split)
    accs = [float(correct[i] / n) if t.has_accuracy else None for i, t in enumerate(tasks)]
    return loop.SplitScores((loss_sums / n).tolist(), accs, n)


def plain_step(model, method, tasks, x, y, optimizer, before_update=()):
    loss = method.batch_loss(model, tasks, x, y)
    if loss is None or not loss.requires_grad:
        return loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for hook in before_update:
        hook()
    optimizer.step()
    return loss.detach()


def plain_optimizer(settings, params):
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr, foreach=False)
    return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, foreach=False)


FP32_CASES = {
    "linear/hps": tiny_config("linear", preference=[0.0, 0.3, 0.7]),
    "wc_al+growl/hps": tiny_config("wc_al", preference=[0.01, 0.5, 0.49],
                                   params={"phase1_iterations": 1, "phase2_iterations": 1}),
    "mgda/lenet36": tiny_config("mgda", arch="lenet", data=LENET_DATA,
                                train={"optimizer": "sgd", "lr": 0.05}),
    "cosmos/hps": tiny_config("cosmos", params={"test_rays": 2}, train={"epochs": 1}),
}


@pytest.mark.parametrize("case", list(FP32_CASES))
def test_fp32_reproduces_the_plain_loop_exactly(monkeypatch, case):
    """A whole trial in fp32 stores exactly the points and history of the loop before the
    fast path (per-parameter optimiser, per-batch host sums), on a model auto would run
    in bf16 too (lenet on 36x36)."""
    config = {**FP32_CASES[case]}
    config["train"] = {**config["train"], "precision": "fp32"}
    fast = trial.run_trial(config)
    monkeypatch.setattr(loop, "evaluate", plain_evaluate)
    monkeypatch.setattr(trial, "evaluate", plain_evaluate)
    monkeypatch.setattr(loop, "step", plain_step)
    monkeypatch.setattr(loop, "make_optimizer", plain_optimizer)
    monkeypatch.setattr(precision, "choose", lambda *_: precision.PLAIN)  # no layout change
    plain = trial.run_trial(config)
    assert fast["precision"] == "fp32"
    assert timeless(fast["points"]) == timeless(plain["points"])
    assert timeless(fast["info"]) == timeless(plain["info"])


BF16_CASES = {
    "linear": ("lenet", {}, [0.0, 0.5, 0.5]),
    "wc_al+growl": ("hps", {"phase1_iterations": 1, "phase2_iterations": 1}, [0.01, 0.5, 0.49]),
    "mgda": ("lenet", {}, None),
    "pmtl": ("lenet", {}, [0.0, 0.5, 0.5]),
    "cosmos": ("lenet", {"test_rays": 2}, None),
    "phn_ls": ("lenet_pmtl", {"test_rays": 2}, None),
    "stl": ("stl", {}, None),
}


@pytest.mark.parametrize("case", list(BF16_CASES))
def test_every_method_trains_and_evaluates_in_bf16(monkeypatch, case):
    """On a bf16 CPU (the flag faked where the CPU lacks it: bf16 is then emulated, slower
    but the same rounding) every method runs its whole schedule on the fast path."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    arch, params, preference = BF16_CASES[case]
    method = case.split("+")[0]
    config = tiny_config(method, arch=arch, params=params, preference=preference,
                         data=LENET_DATA, train={"epochs": 1, "precision": "bf16"})
    result = trial.run_trial(config)
    assert result["precision"] == "bf16"
    for point in result["points"]:
        for scores in point["tasks"].values():
            assert math.isfinite(scores["loss"]) and 0.0 <= scores["acc"] <= 1.0


def test_kdmtl_asked_for_bf16_warns_and_runs_fp32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    config = tiny_config("kdmtl", arch="kdmtl", data=LENET_DATA,
                         train={"epochs": 1, "precision": "bf16"})
    with pytest.warns(RuntimeWarning, match="kdmtl's distillation term"):
        assert trial.run_trial(config)["precision"] == "fp32"


# --- the fast step and evaluation -----------------------------------------------------

def lenet_batch(n: int = 64):
    bundle = DATASETS.get("multidigits").build(LENET_DATA, None)
    split = bundle.splits["train"]
    return bundle, split.x[:n], split.y[:n]


def one_step(path: precision.FastPath, optimizer: str = "sgd"):
    """Loss and weights after one step of the weighted sum on LeNet along ``path``."""
    bundle, x, y = lenet_batch()
    torch.manual_seed(0)
    model = path.prepare(ARCHITECTURES.get("lenet")(bundle.tasks, bundle.input_shape,
                                                    "multidigits", {}))
    method = METHODS.get("linear")([0.0, 0.5, 0.5],
                                   METHODS.get("linear").resolve_params({}, "multidigits", "lenet"), 2)
    settings = TrainSettings(optimizer=optimizer, lr=0.1, momentum=0.0)
    opt = loop.make_optimizer(settings, list(model.parameters()))
    with precision.using(path):
        loss = loop.step(model, method, bundle.tasks, x, y, opt)
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    return loss, grads, weights, model


def test_channels_last_step_equals_the_plain_step_within_float32_rounding():
    loss0, grads0, weights0, _ = one_step(precision.PLAIN)
    loss1, grads1, weights1, model = one_step(precision.FastPath("fp32", True, "cpu"))
    assert model.shared.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(loss1, loss0)  # float32 tolerances
    torch.testing.assert_close(grads1, grads0)
    torch.testing.assert_close(weights1, weights0)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_foreach_optimizers_equal_the_per_parameter_loop(optimizer):
    def train(make):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        opt = make(list(net.parameters()))
        gen = torch.Generator().manual_seed(1)
        for _ in range(20):
            opt.zero_grad()
            net(torch.randn(16, 6, generator=gen)).pow(2).mean().backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    settings = TrainSettings(optimizer=optimizer, lr=0.01)
    fast = train(lambda ps: loop.make_optimizer(settings, ps))
    plain = train(lambda ps: plain_optimizer(settings, ps))
    torch.testing.assert_close(fast, plain)


def test_bf16_step_is_close_to_fp32():
    """bf16 rounds each operand to 8 significant bits: the loss (summed in float32 from
    bf16 logits) within a few roundings, the gradient (about 4 layers x 2 passes x 2
    operands of roundings) within 16 of them."""
    loss0, grads0, _, _ = one_step(precision.PLAIN)
    loss1, grads1, _, _ = one_step(precision.FastPath("bf16", True, "cpu"))
    assert loss1.dtype == torch.float32 and grads1.dtype == torch.float32  # master weights
    assert abs(float(loss1 - loss0)) <= 4 * BF16_U * abs(float(loss0))
    assert float((grads1 - grads0).norm()) <= 16 * BF16_U * float(grads0.norm())


def trained_lenet():
    bundle, _, _ = lenet_batch()
    torch.manual_seed(0)
    model = ARCHITECTURES.get("lenet")(bundle.tasks, bundle.input_shape, "multidigits", {})
    return bundle, model


@pytest.mark.parametrize("batch_size", [7, 64, 1024])
def test_evaluate_equals_the_per_batch_host_sums(batch_size):
    bundle, model = trained_lenet()
    split = bundle.splits["train"]
    old = plain_evaluate(model, split, bundle.tasks, batch_size)
    new = loop.evaluate(model, split, bundle.tasks, batch_size)
    assert new == old  # fp32: the same float32 batch sums added in float64
    with precision.using(precision.FastPath("fp32", True, "cpu")):
        fast = loop.evaluate(precision.FastPath("fp32", True, "cpu").prepare(model), split,
                             bundle.tasks, batch_size)
    # at most a near-tie flips under float32 rounding
    assert all(abs(a - b) <= 1 / len(split) for a, b in zip(fast.accs, old.accs))
    torch.testing.assert_close(torch.tensor(fast.losses), torch.tensor(old.losses),
                               rtol=1e-5, atol=0.0, check_dtype=False)


def test_bf16_evaluation_is_close_to_fp32():
    bundle, model = trained_lenet()
    split = bundle.splits["val"]
    old = plain_evaluate(model, split, bundle.tasks, 64)
    path = precision.FastPath("bf16", True, "cpu")
    with precision.using(path):
        new = loop.evaluate(path.prepare(model), split, bundle.tasks, 64)
    for a, b in zip(new.losses, old.losses):
        assert abs(a - b) <= 4 * BF16_U * abs(b)


def test_evaluate_builds_no_graph():
    bundle, model = trained_lenet()
    seen = []
    model.heads[0].register_forward_hook(lambda m, i, out: seen.append(out.requires_grad))
    loop.evaluate(model, bundle.splits["val"], bundle.tasks, 32)
    assert seen and not any(seen)


# --- the train split's sample ---------------------------------------------------------

def sampled(n_train: int, eval_train: str, monkeypatch, limit: int = 50):
    monkeypatch.setattr(trial, "TRAIN_EVAL_SAMPLE", limit)
    bundle = DATASETS.get("multidigits").build({"n_train": n_train, "n_val": 10, "n_test": 10},
                                               None)
    return bundle, trial.evaluated_splits(bundle, TrainSettings(eval_train=eval_train))


def test_a_small_train_split_is_evaluated_whole(monkeypatch):
    bundle, splits = sampled(50, "sample", monkeypatch)
    assert all(splits[s] is bundle.splits[s] for s in ("train", "val", "test"))


def test_a_large_train_split_is_evaluated_on_a_fixed_sample(monkeypatch):
    bundle, first = sampled(120, "sample", monkeypatch)
    _, again = sampled(120, "sample", monkeypatch)
    train, whole = first["train"], bundle.splits["train"]
    assert len(train) == 50 and first["val"] is bundle.splits["val"]
    assert torch.equal(train.x, again["train"].x) and torch.equal(train.y, again["train"].y)
    rows = {tuple(r.flatten().tolist()) for r in whole.x}
    assert all(tuple(r.flatten().tolist()) in rows for r in train.x)
    _, full = sampled(120, "full", monkeypatch)
    assert full["train"] is not None and len(full["train"]) == 120


def test_the_default_sample_covers_every_tiny_split():
    assert trial.TRAIN_EVAL_SAMPLE == 10_000
    assert TrainSettings().eval_train == "sample"


# --- the trial and the store record the precision -------------------------------------

def test_the_trial_and_the_store_record_the_precision(tmp_path, monkeypatch):
    from store.db import open_store

    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    config = tiny_config("linear", arch="lenet", preference=[0.0, 0.5, 0.5], data=LENET_DATA,
                         train={"epochs": 1})
    result = trial.run_trial(config)
    assert result["precision"] == "bf16"
    for point in result["points"]:
        for loss, acc in ((s["loss"], s["acc"]) for s in point["tasks"].values()):
            assert math.isfinite(loss) and 0.0 <= acc <= 1.0
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # any host
    assert trial.run_trial(config)["precision"] == "fp32"

    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}", create=True)
    store.register_sweep("s", "name: s\n", {"name": "s"}, {})
    expanded = {**config, "key": f"{1:016x}"}
    store.add_trials("s", [expanded])
    store.record_result(expanded["key"], result)
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT precision FROM trials").fetchall() == [("bf16",)]


def test_precision_and_eval_train_leave_the_trial_key_alone():
    from contract.trial import trial_key

    base = tiny_config("linear", preference=[0.0, 0.5, 0.5])
    keys = {trial_key({**base, "train": {**base["train"], **extra}})
            for extra in ({}, {"precision": "bf16"}, {"precision": "fp32"},
                          {"eval_train": "full"})}
    assert len(keys) == 1


def test_the_result_round_trips_its_precision():
    from contract.result import TrialResult

    plain = TrialResult(points=(), precision="bf16").to_plain()
    assert plain["precision"] == "bf16"
    assert TrialResult.from_plain(plain).precision == "bf16"
    assert TrialResult.from_plain({"points": []}).precision is None


def test_a_bad_precision_is_refused_naming_the_field():
    from orchestrator.spec import TrainConfig
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="precision"):
        TrainConfig(precision="fp16")
    assert TrainConfig(precision="bf16").precision == "bf16"


# --- GrOWL: vectorised over rows, and on channels-last weights -------------------------

def loop_growl_layer(weight: torch.Tensor, beta1: float, beta2: float) -> float:
    """The GrOWL value row by row (input channel i: weight[:, i])."""
    norms = sorted((float(weight[:, i].norm()) for i in range(weight.shape[1])), reverse=True)
    return sum((beta1 + beta2 if rank == 0 else beta2) * norm for rank, norm in enumerate(norms))


def loop_growl_prox(weight: torch.Tensor, tau: float, beta1: float, beta2: float) -> torch.Tensor:
    """The GrOWL prox row by row: pool adjacent violators over the shifted sorted norms."""
    n = weight.shape[1]
    norms = [float(weight[:, i].norm()) for i in range(n)]
    order = sorted(range(n), key=lambda i: -norms[i])
    blocks: list[list[float]] = []  # [sum, count], kept non-increasing
    for rank, i in enumerate(order):
        blocks.append([norms[i] - tau * (beta1 + beta2 if rank == 0 else beta2), 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] <= blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    shrunk = [max(total / count, 0.0) for total, count in blocks for _ in range(count)]
    out = weight.clone()
    for rank, i in enumerate(order):
        out[:, i] = weight[:, i] * (shrunk[rank] / norms[i]) if shrunk[rank] > 0 else 0.0
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_growl_value_and_prox_equal_the_row_loop_in_float64(seed):
    from trainers.growl import growl_prox_
    from trainers.sparsity import growl_layer

    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(6, 9, 3, 3, generator=gen, dtype=torch.float64)
    weight[:, 2] *= 0.01  # a row the prox zeroes
    value = float(growl_layer(weight, 0.8, 0.2))
    assert value == pytest.approx(loop_growl_layer(weight, 0.8, 0.2), rel=1e-12)
    expected = loop_growl_prox(weight, 0.5, 0.8, 0.2)
    fast = weight.clone()
    growl_prox_(fast, 0.5, 0.8, 0.2)
    torch.testing.assert_close(fast, expected, rtol=1e-12, atol=1e-12)


def test_growl_prox_on_a_channels_last_weight_equals_the_contiguous_one():
    from trainers.growl import growl_prox_

    weight = torch.randn(6, 9, 3, 3, generator=torch.Generator().manual_seed(2))
    cl = weight.contiguous(memory_format=torch.channels_last)
    plain_info = growl_prox_(weight, 0.5, 0.8, 0.2, cap=0.3)
    cl_info = growl_prox_(cl, 0.5, 0.8, 0.2, cap=0.3)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert cl_info == plain_info  # the same rows pruned, and restored by the cap
    torch.testing.assert_close(cl, weight)  # row norms summed in another order: float32
