"""``mtan``: the MTAN architecture on fixed task weights lambda_t."""

import pytest
import torch

from trainers.methods.base import ParamError
from trainers.methods.mtan import MTAN
from trainers.trial import run_trial
from tiny_trials import assert_finite_points, tiny_config



def test_loss_is_the_lambda_weighted_sum_without_sparsity():
    method = MTAN(None, MTAN.resolve_params({"lambda": [0.02, 0.08]}, "multidigits"), 2)
    assert float(method.loss(torch.tensor([50.0, 1.0, 2.0]))) == pytest.approx(0.18)
    default = MTAN(None, MTAN.resolve_params({}, "multidigits"), 2)
    assert default.lambdas.tolist() == pytest.approx([0.05, 0.05])


def test_mtan_trial_gives_finite_points():
    result = run_trial(tiny_config("mtan", arch="mtan"))
    assert_finite_points(result)
    assert all(point["preference"] is None for point in result["points"])
    assert result["info"]["method_state"]["lambda"] == pytest.approx([0.05, 0.05])


def test_presets_and_refusals():
    assert MTAN.train_preset("multimnist") == {"epochs": 200, "batch_size": 256, "lr": 1e-3,
                                               "lr_decay": 0.5, "epochs_per_iteration": 25,
                                               "optimizer": "adam", "eval_batch_size": 100}
    with pytest.raises(ParamError):
        MTAN.resolve_params({"lambda": "big"}, "multimnist")
    from orchestrator.errors import SpecError
    from orchestrator.expand import expand_sweep
    from orchestrator.spec import parse_spec

    spec = parse_spec({"name": "m", "datasets": ["multidigits"], "architectures": ["hps"],
                       "methods": ["mtan"]}, "s.yaml")
    with pytest.raises(SpecError, match="only architecture"):
        expand_sweep(spec)
