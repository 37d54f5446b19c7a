"""WC-AL's two-phase schedule end to end on a tiny MDMTN
(docs/methods/wc_al.md#two-phase-schedule): LSUV, phase 1 with the GrOWL prox, caps and the
s_min checkpoint, Affinity Propagation, phase 2 with tying; the final model is sparse and
tied, and both phase times are reported."""
import pytest
import torch

from trainers import loop
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.methods import wc_al as wc_al_module
from trainers.methods.two_phase import GrowlPhase
from trainers.metrics import sparsity_metrics
from trainers.models import ARCHITECTURES
from trainers.settings import TrainSettings
from trainers.sparsity import row_view
from trainers.trial import run_trial

WCAL = METHODS.get("wc_al")
DATA = {"n_train": 300, "n_val": 100, "n_test": 100}
SPARSE = {"phase1_iterations": 2, "phase2_iterations": 1, "prox_step": "raw",
          "s_min": 0.05, "ap_preference": 0.0}
TRAIN = {"epochs": 2, "batch_size": 64, "lr": 3e-3, "epochs_per_iteration": 1}


def config(preference, **params):
    return {
        "key": "two-phase", "dataset": {"name": "multidigits", "options": dict(DATA)},
        "arch": {"name": "mdmtn", "options": {}},
        "method": {"name": "wc_al",
                   "params": WCAL.resolve_params({**SPARSE, **params}, "multidigits", "mdmtn")},
        "preference": list(preference), "seed": 0, "train": dict(TRAIN),
        "runtime": {"threads": 1},
    }


_CACHE = {}


def trial(preference=(0.1, 0.45, 0.45), **params):
    key = (tuple(preference), tuple(sorted(params.items())))
    if key not in _CACHE:
        _CACHE[key] = run_trial(config(preference, **params))
    return _CACHE[key]


def test_sparse_trial_runs_both_phases_and_ends_sparse_and_tied():
    result = trial()
    stages = [h["stage"] for h in result["info"]["history"]]
    assert stages == ["phase1", "phase1", "phase2"]
    assert result["info"]["phase1"]["checkpoint"] == "sparse"
    for point in result["points"]:
        m = point["metrics"]
        assert m["sr"] > 0
        assert m["ps"] > 1
        assert m["cr"] > 1
        assert m["ps"] == pytest.approx(m["cr"] * (1 - m["sr"]))
    assert result["time_phase1_s"] > 0 and result["time_phase2_s"] > 0
    assert result["time_train_s"] == pytest.approx(result["time_phase1_s"] + result["time_phase2_s"])
    assert result["info"]["time_ap_s"] >= 0
    tying = result["info"]["tying"]
    assert set(tying) == {"shared.fc.weight", "monitors.0.fc.weight", "monitors.1.fc.weight"}
    assert sum(layer["tied_rows"] for layer in tying.values()) > 0


def test_dense_trial_is_one_stage_without_phase_two():
    result = trial((0.0, 0.5, 0.5))
    assert [h["stage"] for h in result["info"]["history"]] == ["train", "train"]
    assert result["time_phase2_s"] is None
    assert result["time_phase1_s"] == pytest.approx(result["time_train_s"])
    assert result["points"][0]["metrics"]["sr"] == 0


def fit_directly(preference, **params):
    """Run WC-AL's fit on a tiny MDMTN and hand back the model, outcome and method."""
    source = DATASETS.get("multidigits")
    bundle = source.build(dict(DATA))
    torch.manual_seed(0)
    model = ARCHITECTURES.get("mdmtn")(bundle.tasks, bundle.input_shape, "multidigits", {})
    method = WCAL(list(preference), WCAL.resolve_params({**SPARSE, **params}, "multidigits",
                                                        "mdmtn"), len(bundle.tasks))
    data = loop.TrainData(bundle.tasks, bundle.splits["train"], bundle.splits["val"])
    settings = TrainSettings.resolve(TRAIN)
    outcome = method.fit(model, data, settings, torch.Generator().manual_seed(0))
    return model, outcome, method


def test_final_model_is_exactly_tied_and_keeps_its_zero_rows():
    model, outcome, _ = fit_directly((0.1, 0.45, 0.45))
    for name, weight in model.eligible_weights():
        layer = outcome.info["tying"][name]
        rows = row_view(weight.detach())
        zero = ~rows.any(dim=1)
        assert int(zero.sum()) == layer["zero"], name       # no pruned row came back
        assert int(zero.sum()) <= int(SPARSE_CAP * rows.shape[0] + 1e-9)
    # the metrics of the returned model are those of a tied model: unique rows = clusters
    m = sparsity_metrics(model)
    clusters = sum(layer["clusters"] + (layer["zero"] > 0)
                   for layer in outcome.info["tying"].values())
    other_rows = sum(w.shape[1] for n, w in model.all_weights()
                     if n not in outcome.info["tying"])
    assert m["rows_unique"] == clusters + other_rows


SPARSE_CAP = 0.8  # s_lmax (the default) reached in phase 1's last iteration


def test_phase_one_caps_grow_per_iteration():
    torch.manual_seed(0)
    source = DATASETS.get("multidigits")
    model = ARCHITECTURES.get("mdmtn")(source.tasks, (1, 10, 10), "multidigits", {})
    with torch.no_grad():
        for _, w in model.eligible_weights():
            w.mul_(1e-3)              # every row under the threshold: only the cap limits
    phase = GrowlPhase(model, WCAL.resolve_params({"s_lmax": 0.6, "prox_step": "raw"},
                                                  "multidigits"), iterations=3)
    for iteration, cap in enumerate([0.2, 0.4, 0.6]):
        record = phase(loop.EpochEnd(epoch=iteration, iteration=iteration, lr=1e-3, n_batches=5))
        assert record["cap"] == pytest.approx(cap)
        for name, w in model.eligible_weights():
            rows = row_view(w.detach())
            assert int((~rows.any(dim=1)).sum()) == int(cap * rows.shape[0] + 1e-9), name
        assert phase.pruned.count > 0


def test_unreachable_s_min_falls_back_to_the_best_validation_epoch():
    result = trial(s_min=1.0)
    assert result["info"]["phase1"]["checkpoint"].startswith("draft")


def test_lsuv_policy(monkeypatch):
    calls = []
    monkeypatch.setattr(wc_al_module, "lsuv_", lambda model, x, generator: calls.append(len(x)))
    fit_directly((0.0, 0.5, 0.5), phase2_iterations=1, lsuv="sparse")
    assert calls == []
    fit_directly((0.0, 0.5, 0.5), lsuv="always")
    assert calls == [64]
    fit_directly((0.1, 0.45, 0.45), lsuv="never")
    assert calls == [64]


def test_epoch_lr_prox_step_is_the_epochs_summed_learning_rate():
    model, outcome, _ = fit_directly((0.1, 0.45, 0.45), prox_step="epoch_lr")
    first = outcome.history[0]
    assert first["prox_tau"] == pytest.approx(3e-3 * 5)   # lr x 5 batches of 64 in 300
