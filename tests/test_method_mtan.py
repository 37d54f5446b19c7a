"""``mtan``: the MTAN architecture on fixed task weights lambda_t."""
import math

import pytest
import torch

from trainers.methods.base import ParamError
from trainers.methods.mtan import MTAN
from trainers.trial import run_trial

DATA_OPTIONS = {"n_train": 200, "n_val": 60, "n_test": 60}


def test_loss_is_the_lambda_weighted_sum_without_sparsity():
    method = MTAN(None, MTAN.resolve_params({"lambda": [0.02, 0.08]}, "multidigits"), 2)
    assert float(method.scalarize(torch.tensor([50.0, 1.0, 2.0]))) == pytest.approx(0.18)
    default = MTAN(None, MTAN.resolve_params({}, "multidigits"), 2)
    assert default.lambdas.tolist() == pytest.approx([0.05, 0.05])


def test_mtan_trial_gives_finite_points():
    config = {
        "key": "test-mtan", "dataset": {"name": "multidigits", "options": dict(DATA_OPTIONS)},
        "arch": {"name": "mtan", "options": {}},
        "method": {"name": "mtan", "params": MTAN.resolve_params({}, "multidigits", "mtan")},
        "preference": None, "seed": 0,
        "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3, "device": "cpu"},
        "runtime": {"threads": 1},
    }
    result = run_trial(config)
    assert [p["split"] for p in result["points"]] == ["train", "val", "test"]
    for point in result["points"]:
        assert point["preference"] is None
        for scores in point["tasks"].values():
            assert math.isfinite(scores["loss"]) and 0.0 <= scores["acc"] <= 1.0
    assert result["info"]["method_state"]["lambda"] == pytest.approx([0.05, 0.05])


def test_presets_and_refusals():
    assert MTAN.train_preset("multimnist") == {"epochs": 200, "batch_size": 256, "lr": 1e-3,
                                               "lr_decay": 0.5, "epochs_per_iteration": 25,
                                               "optimizer": "adam"}
    with pytest.raises(ParamError):
        MTAN.resolve_params({"lambda": "big"}, "multimnist")
    from orchestrator.errors import SpecError
    from orchestrator.expand import expand_sweep
    from orchestrator.spec import parse_spec

    spec = parse_spec({"name": "m", "datasets": ["multidigits"], "architectures": ["hps"],
                       "methods": ["mtan"]}, "s.yaml")
    with pytest.raises(SpecError, match="only architecture"):
        expand_sweep(spec)
