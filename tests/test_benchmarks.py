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
