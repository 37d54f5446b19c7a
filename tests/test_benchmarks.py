"""The benchmark suite runs end to end at a tiny size and prints coherent figures
(its speed figures themselves belong in benchmarks/RESULTS.md, not in assertions)."""
from __future__ import annotations

import math

import torch

from benchmarks import step
from benchmarks.__main__ import main


def test_step_rows_are_positive_and_the_ratio_is_their_quotient():
    rows = step.run(torch.device("cpu"), n=64, epochs=1, batch=32, repeats=2, only=["linear"])
    assert [r["case"] for r in rows] == ["linear / lenet", "linear / hps", "linear / mdmtn"]
    for r in rows:
        assert r["paretoctl"] > 0 and r["baseline"] > 0 and r["mflop"] > 0
        assert math.isclose(r["ratio"], r["paretoctl"] / r["baseline"], rel_tol=1e-12)
        assert math.isclose(r["ours_gflops"] / r["base_gflops"], r["ratio"], rel_tol=1e-9)
        assert r["fp32"] > 0 and r["ran"] in ("fp32", "bf16")
        assert math.isclose(r["fast"], r["paretoctl"] / r["fp32"], rel_tol=1e-12)


def test_the_precision_benchmark_reports_each_seeds_difference(monkeypatch, capsys):
    from benchmarks import precision_accuracy

    accs = {("fp32", 0): 0.80, ("bf16", 0): 0.802, ("fp32", 1): 0.81, ("bf16", 1): 0.806}

    def fake_trial(config):
        assert config["dataset"]["name"] == "multifashion" and config["arch"]["name"] == "lenet"
        key = (config["train"]["precision"], config["seed"])
        test = {"split": "test", "tasks": {"left": {"acc": accs[key]}, "right": {"acc": accs[key]}}}
        return {"points": [test], "precision": key[0], "time_train_s": 1.0}

    monkeypatch.setattr(precision_accuracy, "run_trial", fake_trial)
    rows = precision_accuracy.run(n_train=100, epochs=1, seeds=(0, 1))
    assert [round(r["diff"], 6) for r in rows] == [0.2, -0.4]
    out = capsys.readouterr().out
    assert "difference -0.10 points (target |.| <= 0.3: met)" in out
    assert "largest per-seed |bf16 - fp32| 0.40, fp32 spread between seeds 1.00" in out


def test_the_baseline_normalises_each_sample_and_keeps_nchw_fp32():
    case = step.Case("linear", "hps", [0.0, 0.5, 0.5])
    config = step.case_config(case, 16, 1, 8, "cpu")
    baseline = step.Baseline(case, config, torch.device("cpu"))
    x, y = baseline.loader.dataset[3]
    raw = baseline.loader.dataset.x[3]
    assert x.dtype == torch.float32 and x.shape == (1, 36, 36)
    assert torch.allclose(x, (raw - step.MEAN) / step.STD)


def test_every_subcommand_prints_its_table(capsys):
    assert main(["machine"]) == 0
    assert main(["growl", "--arch", "hps", "--repeats", "1"]) == 0
    assert main(["eval", "--n-test", "64"]) == 0
    assert main(["front", "--sizes", "1000", "--store-points", "0"]) == 0
    out = capsys.readouterr().out
    for expected in ("fp32", "bf16", "GrOWL prox", "AP on", "cosmos / hps", "phn_ls / hps",
                     "all on front", "load average"):
        assert expected in out
    assert "25" in next(line for line in out.splitlines() if line.startswith("cosmos / hps"))


def test_cuda_without_a_gpu_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--device", "cuda", "step"]) == 2
    assert "--device" in capsys.readouterr().err


def test_pack_rows_give_trials_per_hour_for_both_ways():
    from benchmarks import pack

    rows = pack.run(torch.device("cpu"), k=2, repeats=1, n_train=64, n_test=32, batch=32)
    assert [r["case"] for r in rows] == ["linear / lenet", "linear / hps"]
    assert all(r["one"] > 0 and r["packed"] > 0 and r["k"] == 2 for r in rows)


def test_front_end_to_end_prints_wall_and_cpu_per_store(capsys, tmp_path):
    from benchmarks import front_speed

    front_speed.end_to_end([300], shares=(0.0, 1.0), repeats=1, dims=(2, 3), keep=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["stored", "d", "set", "front", "wall", "s"]
    rows = [line.replace("all on front", "all-on-front").split() for line in lines[1:]]
    assert [r[:3] for r in rows] == [["300", "2", "random"], ["300", "2", "all-on-front"],
                                      ["300", "3", "random"], ["300", "3", "all-on-front"]]
    assert int(rows[0][3]) < 300 and int(rows[2][3]) < 300 and rows[1][3] == rows[3][3] == "300"
    assert all(float(r[4]) > 0 and float(r[5]) > 0 for r in rows)  # wall and CPU seconds


def test_the_mgda_baselines_frank_wolfe_is_the_min_norm_solution():
    from trainers.min_norm import min_norm_weights

    gen = torch.Generator().manual_seed(0)
    for m in (2, 3, 4, 5):
        for _ in range(5):
            vectors = torch.randn(m, 50, generator=gen, dtype=torch.float64)
            gram = vectors @ vectors.T
            ours = min_norm_weights(gram).numpy()
            theirs = step.frank_wolfe(gram.numpy())
            assert abs(theirs.sum() - 1) < 1e-12 and (theirs >= 0).all()
            assert abs(theirs - ours).max() < 1e-6


def tiny_baseline(method: str, preference=None):
    case = step.Case(method, "hps", preference)
    config = step.case_config(case, 16, 1, 8, "cpu")
    torch.manual_seed(0)
    return step.make_baseline(case, config, torch.device("cpu")), config


def test_the_gradient_baselines_copy_each_tasks_gradient_and_weigh_like_paretoctl():
    from trainers import loop
    from trainers.directions import pmtl_phase2_weights
    from trainers.methods import METHODS
    from trainers.methods.task_gradients import flat_gradients, parameter_set

    for method, preference, grad_set in (("mgda", None, "shared"),
                                         ("pmtl", [0.0, 0.5, 0.5], "all")):
        baseline, config = tiny_baseline(method, preference)
        x, y = next(iter(baseline.loader))
        vectors, losses = baseline.task_gradients(x, y)
        ours = METHODS.get(method)(preference, config["method"]["params"], 2)
        model = baseline.model
        expected = flat_gradients(loop.objective_vector(model, ours, baseline.tasks, x, y)[1:],
                                  parameter_set(model, grad_set)).double().numpy()
        assert vectors.shape == expected.shape
        # float32 gradients of the same computation, summed over a batch of 8
        assert abs(vectors - expected).max() <= 1e-5 * max(1.0, abs(expected).max())
        gen = torch.Generator().manual_seed(1)
        for _ in range(10):  # random gradients and losses: active constraints come and go
            g = torch.randn(2, 30, generator=gen, dtype=torch.float64)
            l = torch.rand(2, generator=gen, dtype=torch.float64) + 0.1
            got = baseline.loss_weights(g.numpy(), l.numpy())
            if method == "mgda":
                want = ours.weights_from_gram(g @ g.T, l)
            else:
                want = pmtl_phase2_weights(g @ g.T, l, ours.rays, ours.ray)
            assert abs(got - want.numpy()).max() < 1e-6


def test_the_cosmos_baselines_loss_is_the_formula():
    from trainers.methods.cosmos import cosmos_loss

    losses = torch.tensor([3.0, 4.0], dtype=torch.float64)
    ray = torch.tensor([0.25, 0.75], dtype=torch.float64)
    dot = 0.25 * 3 + 0.75 * 4
    expected = dot - 2.0 * dot / (5.0 * math.sqrt(0.25 ** 2 + 0.75 ** 2))
    assert abs(float(step.cosmos_objective(losses, ray, 2.0)) - expected) < 1e-12
    assert abs(float(cosmos_loss(losses, ray, 2.0)) - expected) < 1e-12


def test_each_method_baseline_steps_on_its_own_model_and_rays():
    from trainers.models.conditioning import RayConditionedNet
    from trainers.models.hypernet import ParetoHyperNet

    weighted_sum = tiny_baseline("linear", [0.0, 0.5, 0.5])[0].flops_per_sample()
    kinds = {"mgda": step.MGDABaseline, "pmtl": step.PMTLBaseline,
             "cosmos": step.CosmosBaseline, "phn_ls": step.PHNBaseline}
    for method, kind in kinds.items():
        baseline, _ = tiny_baseline(method, [0.0, 0.5, 0.5] if method == "pmtl" else None)
        assert type(baseline) is kind
        before = [p.detach().clone() for p in baseline.model.parameters()]
        x, y = next(iter(baseline.loader))
        baseline.step(x, y)
        changed = [not torch.equal(a, b) for a, b in zip(before, baseline.model.parameters())]
        assert any(changed), method
        if method in ("mgda", "pmtl"):  # counted: a forward, m backwards, a fresh step
            assert baseline.flops_per_sample() > 1.5 * weighted_sum
            assert baseline.alpha.shape == (2,) and abs(baseline.alpha).sum() > 0
        else:
            model_kind = RayConditionedNet if method == "cosmos" else ParetoHyperNet
            assert isinstance(baseline.model, model_kind)
            first = baseline.model.ray.clone()
            assert abs(float(first.sum()) - 1) < 1e-6 and (first >= 0).all()
            baseline.step(x, y)
            assert not torch.equal(first, baseline.model.ray)  # a fresh ray per batch


def test_a_baseline_refuses_method_parameters_it_does_not_implement():
    case = step.Case("mgda", "hps")
    config = step.case_config(case, 16, 1, 8, "cpu")
    config["method"]["params"]["normalization"] = "l2"
    try:
        step.make_baseline(case, config, torch.device("cpu"))
    except ValueError as error:
        assert "normalization" in str(error)
    else:
        raise AssertionError("the mgda baseline took normalization l2")
