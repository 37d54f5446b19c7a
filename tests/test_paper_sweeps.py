"""The shipped sweep files validate and expand to the papers' trials with the papers'
presets (Hotegni et al. (2024), Table I; docs/methods/wc_al.md#presets,
docs/preferences.md#the-paper90-grid, docs/methods/front_learning.md#cosmos-presets and
#phn-presets, docs/methods/gradient_combining.md#pareto-mtl-presets)."""
from pathlib import Path

import pytest

from orchestrator.expand import expand_sweep
from orchestrator.spec import load_spec

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"


def expand(name):
    return expand_sweep(load_spec(SWEEPS / f"{name}.yaml"))


def test_multimnist_90k_is_the_paper_study():
    trials = expand("multimnist_90k")
    assert len(trials) == 90
    assert sum(t["preference"][0] == 0 for t in trials) == 19
    t = trials[0]
    assert (t["arch"]["name"], t["method"]["name"]) == ("mdmtn", "wc_al")
    assert t["train"]["lr"] == 2.5e-3 and t["train"]["lr_decay"] == 0.5
    assert t["train"]["epochs"] == 36 and t["train"]["epochs_per_iteration"] == 3
    p = t["method"]["params"]
    assert (p["mu0"], p["s_min"], p["s_lmax"], p["ap_preference"]) == (2.5e-8, 0.2, 0.8, 0.7)
    assert (p["phase1_iterations"], p["phase2_iterations"]) == (3, 10)


@pytest.mark.parametrize("name, arch, prefs, s_min, s_lmax", [
    ("cifar10mnist_hps", "hps", [[0.0, 0.5, 0.5], [0.1, 0.6, 0.3]], 0.05, 0.15),
    ("cifar10mnist_mdmtn", "mdmtn", [[0.0, 0.55, 0.45], [0.01, 0.8, 0.19]], 0.10, 0.3),
])
def test_cifar10mnist_table_rows(name, arch, prefs, s_min, s_lmax):
    trials = expand(name)
    assert [t["preference"] for t in trials] == prefs
    for t in trials:
        assert t["arch"]["name"] == arch
        assert (t["train"]["lr"], t["train"]["lr_decay"]) == (1e-4, 0.98)
        p = t["method"]["params"]
        assert (p["mu0"], p["s_min"], p["s_lmax"], p["ap_preference"]) == (6.8e-8, s_min, s_lmax, 0.8)


def test_multifashion_variant_pairs_dense_and_sparse_with_the_same_task_weights():
    trials = expand("multifashion_mdmtn")
    dense, sparse = (t["preference"] for t in trials)
    assert dense[0] == 0 and sparse[0] > 0
    assert dense[1] / dense[2] == pytest.approx(sparse[1] / sparse[2])
    assert all(t["arch"]["name"] == "mdmtn" for t in trials)


def test_multifashion_methods_runs_every_two_task_method():
    trials = expand("multifashion_methods")
    by_method = {}
    for t in trials:
        by_method.setdefault(t["method"]["name"], []).append(t)
    singles = ("uniform", "mgda", "cosmos", "phn_ls", "phn_epo", "stl", "kdmtl", "mtan")
    assert sorted(by_method) == sorted(["linear", "wc_al", "pmtl", *singles])
    assert [len(by_method[m]) for m in ("linear", "wc_al", "pmtl")] == [5, 5, 5]
    assert all(len(by_method[m]) == 1 for m in singles)
    own_arch = ("stl", "kdmtl", "mtan")   # the MDMTN paper's baselines
    for t in trials:
        method = t["method"]["name"]
        assert t["arch"]["name"] == (method if method in own_arch else "lenet")
        assert t["train"]["epochs"] == 10 and t["dataset"]["options"]["n_train"] == 20000
    assert by_method["cosmos"][0]["method"]["params"]["test_rays"] == 25
    assert by_method["phn_ls"][0]["train"]["lr"] == 1e-4


def test_every_shipped_sweep_expands():
    for path in sorted(SWEEPS.glob("*.yaml")):
        assert expand(path.stem), path.name
