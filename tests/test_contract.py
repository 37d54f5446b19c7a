"""The contract's classes: one declaration of each shape, plain forms that survive JSON,
frozen instances, and the spec's train section derived from the one TrainSettings."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

from contract.plain import ContractError
from contract.result import Point, TrialResult
from contract.settings import TrainSettings
from contract.trial import Component, Runtime, TrialConfig, trial_key
from orchestrator.errors import SpecError
from orchestrator.spec import TrainConfig, parse_spec


def config() -> TrialConfig:
    return TrialConfig(
        dataset=Component("multidigits", {"n_train": 300, "shape": [1, 28]}),
        arch=Component("hps", {}), method=Component("linear", {"mu": 0.5}),
        preference=(0.0, 0.5, 0.5), seed=3, train=TrainSettings(epochs=2, lr=0.01),
        runtime=Runtime("/data", 2), key="0123456789abcdef", sweep="s")


def point(split="test", ray=0) -> Point:
    return Point(split, ray, (0.0, 0.5, 0.5), {"left": (0.4, 0.9), "right": (0.5, None)},
                 {"sparsity": 0.25, "n_params": 1234, "sr": 0.5}, 3.5, 0.1)


def result() -> TrialResult:
    return TrialResult((point(), point("val")), 3.5, 2.0, 1.5, "cpu", {"torch": "x"},
                       {"best_epoch": 1, "history": [{"val_score": 0.5}]})


@pytest.mark.parametrize("make", [config, point, result, lambda: TrainSettings(lr=0.1)])
def test_plain_forms_round_trip_through_json(make):
    value = make()
    plain = value.to_plain()
    again = json.loads(json.dumps(plain, allow_nan=False))
    assert again == plain
    assert type(value).from_plain(again) == value
    assert type(value).from_plain(again).to_plain() == plain


@pytest.mark.parametrize("make", [config, point, result, TrainSettings])
def test_instances_are_frozen(make):
    value = make()
    name = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, name, None)


def test_to_plain_does_not_share_state_with_the_instance():
    value = config()
    plain = value.to_plain()
    plain["dataset"]["options"]["n_train"] = 1
    assert value.dataset.options["n_train"] == 300


def test_the_plain_point_keeps_the_model_figures_at_the_top_level():
    plain = point().to_plain()
    assert plain["sparsity"] == 0.25 and plain["n_params"] == 1234
    assert plain["metrics"] == {"sr": 0.5}
    assert plain["tasks"]["right"] == {"loss": 0.5, "acc": None}
    with pytest.raises(ContractError, match=r"^sparsity: given both"):
        Point.from_plain({**plain, "metrics": {"sparsity": 0.1}})


@pytest.mark.parametrize(("data", "field"), [
    ({"points": "x"}, ""),
    ({"points": [{"split": "holdout"}]}, "points[0].split"),
    ({"points": [{"split": "test", "tasks": []}]}, "points[0].tasks"),
    ({"points": [{"split": "test", "tasks": {"a": 1.0}}]}, "points[0].tasks.a"),
    ({"points": [{"split": "test", "metrics": [1]}]}, "points[0].metrics"),
])
def test_wrong_shapes_name_their_field(data, field):
    with pytest.raises(ContractError) as info:
        TrialResult.from_plain(data)
    assert info.value.field == field


def test_a_partial_plain_config_takes_the_default_settings():
    plain = {"dataset": {"name": "d"}, "arch": {"name": "a"}, "method": {"name": "m"},
             "preference": None, "seed": 0, "train": {"epochs": 1}}
    parsed = TrialConfig.from_plain(plain)
    assert parsed.train == TrainSettings(epochs=1) and parsed.runtime == Runtime()
    with pytest.raises(ContractError, match=r"^train\.epoch: unknown training setting"):
        TrialConfig.from_plain({**plain, "train": {"epoch": 1}})


def test_the_key_hashes_the_identity_without_runtime_settings():
    base = config()
    moved = dataclasses.replace(base, runtime=Runtime(None, 8), key="", sweep="other",
                                train=dataclasses.replace(base.train, device="cuda:1"))
    assert trial_key(moved) == trial_key(base) == trial_key(base.to_plain())
    assert "device" not in base.identity()["train"]
    other = dataclasses.replace(base, train=dataclasses.replace(base.train, lr=0.02))
    assert trial_key(other) != trial_key(base)


def test_the_key_of_a_fixed_config_never_changes():
    # what the key was before the contract existed (the same canonical JSON, hashed): a
    # change here would re-run every stored trial
    assert trial_key(config()) == "8669c9dd615e588f"


def test_the_spec_train_section_is_the_train_settings_made_optional():
    assert list(TrainConfig.model_fields) == [f.name for f in dataclasses.fields(TrainSettings)]
    spec = parse_spec({"name": "s", "datasets": ["multidigits"], "methods": ["linear"],
                       "train": {"epochs": 3, "optimizer": "sgd", "device": "cuda:0"}})
    settings = TrainSettings.resolve(spec.train.model_dump(exclude_none=True))
    assert settings == TrainSettings(epochs=3, optimizer="sgd", device="cuda:0")


@pytest.mark.parametrize(("train", "field", "message"), [
    ({"optimizer": "rmsprop"}, "train.optimizer", "'adam' or 'sgd'"),
    ({"checkpoint": "median"}, "train.checkpoint", "'best_val' or 'last'"),
    ({"momentum": -0.1}, "train.momentum", "greater than or equal to 0"),
    ({"lr_decay": float("inf")}, "train.lr_decay", "finite number"),
    ({"batch_size": True}, "train.batch_size", "valid integer"),
    ({"device": "gpu"}, "train.device", "expected auto, cpu, cuda or cuda:N"),
])
def test_the_declared_ranges_are_what_the_spec_checks(train, field, message):
    with pytest.raises(SpecError) as info:
        parse_spec({"name": "s", "datasets": ["multidigits"], "methods": ["linear"],
                    "train": train})
    assert info.value.field == field and message in info.value.message


def test_every_train_setting_name_comes_from_the_contract():
    import trainers.settings
    from orchestrator import expand

    assert trainers.settings.TrainSettings is TrainSettings
    assert set(TrainConfig.model_fields) == TrainSettings.field_names()
    assert expand.RUNTIME_TRAIN_FIELDS == TrainSettings.runtime_fields() == (
        "device", "precision", "eval_train")


def test_the_expansion_builds_trial_configs():
    from orchestrator.expand import expand_sweep

    spec = parse_spec({"name": "s", "datasets": ["multidigits"], "methods": ["linear"],
                       "train": {"epochs": 1}})
    (plain,) = expand_sweep(spec, threads=2)
    assert list(plain) == ["key", "sweep", "dataset", "arch", "method", "preference", "seed",
                           "train", "runtime"]
    parsed = TrialConfig.from_plain(plain)
    assert parsed.to_plain() == plain and trial_key(parsed) == plain["key"]
    assert parsed.runtime == Runtime(None, 2) and parsed.train.epochs == 1


def test_the_contract_imports_nothing_heavy():
    code = textwrap.dedent("""
        import sys
        import contract.metrics, contract.plain, contract.result, contract.settings, contract.trial
        heavy = {"torch", "numpy", "pydantic", "sqlalchemy", "pandas", "ray", "yaml"}
        print(sorted(heavy & {name.split(".")[0] for name in sys.modules}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
