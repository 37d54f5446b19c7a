"""Every method parameter is declared once (default, kind, range) and checked centrally
before anything runs; real-valued training settings and parameters must be finite, and
values below a parameter's range (negative rho, mu0, eps, betas, ...) are refused with
the field named, by the expansion and by the CLI (exit code 2, nothing written)."""
from __future__ import annotations

import math

import pytest
import torch
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.errors import SpecError
from orchestrator.expand import expand_sweep
from orchestrator.spec import load_spec, parse_spec
from trainers.datasets import DATASETS
from trainers.methods import METHODS, Method
from trainers.methods.params import Param, ParamError, integer, real
from trainers.models import ARCHITECTURES

NUMERIC = ("real", "int")


def declared():
    """(method, parameter name, Param) for every parameter of every method."""
    return [(m, name, p) for m in METHODS.names()
            for name, p in METHODS.get(m).param_table.items()]


def test_every_parameter_is_declared_with_a_kind_and_its_defaults_and_presets_pass():
    for method in METHODS.names():
        cls = METHODS.get(method)
        assert set(cls.default_params) == set(cls.param_table), method
        for name, param in cls.param_table.items():
            assert param.kind in ("real", "int", "bool", "word"), (method, name)
            assert param.accepts(param.default), (method, name, param.default)
        for dataset in DATASETS.names():   # every preset value is itself valid
            for arch in (None, *ARCHITECTURES.names()):
                cls.resolve_params({}, dataset, arch)


def test_parameters_can_only_be_declared_in_the_table():
    with pytest.raises(TypeError, match="param_table"):
        type("Loose", (Method,), {"default_params": {"x": 1}, "batch_loss": lambda s, *a: None})


@pytest.mark.parametrize("method,name,param",
                         [d for d in declared() if d[2].kind in NUMERIC],
                         ids=[f"{m}.{n}" for m, n, p in declared() if p.kind in NUMERIC])
def test_infinite_nan_and_below_range_values_are_refused_by_name(method, name, param):
    cls = METHODS.get(method)
    bad = [math.inf, -math.inf, math.nan]
    if param.low is not None:
        bad.append(param.low - 1)          # e.g. negative rho, mu0, eps, beta1
    if param.high is not None:
        bad.append(param.high + 1)
    for value in bad:
        as_given = [value] if param.shape == "list" else value
        with pytest.raises(ParamError) as info:
            cls.resolve_params({name: as_given}, "multidigits")
        assert info.value.name == name
        assert str(info.value).startswith(f"{name} must be ")


@pytest.mark.parametrize("param, good, bad", [
    (real(1.0, 0.0, open_low=True), [1e-9, 3], [0, -1, True, "1", None, [1.0]]),
    (real(0.0, 0.0, 0.5, open_high=True), [0, 0.49], [0.5, -0.1]),
    (real(0.0, words=("normal",)), ["normal", -2.5], ["uniform", math.nan]),
    (real(None, 0.0, null=True, shape="list"), [None, [0, 1.5]], [[], [0, -1], 0.5, [math.inf]]),
    (real(0.1, 0.0, shape="one|list"), [0.1, [0.1, 0.2]], [[], [0.1, -0.2]]),
    (integer(None, 1, null=True), [None, 1, 7], [0, 1.0, True, math.inf]),
])
def test_param_kinds_accept_and_refuse(param: Param, good, bad):
    assert all(param.accepts(v) for v in good)
    assert not any(param.accepts(v) for v in bad)


def test_the_expansion_names_the_field_of_a_refused_parameter():
    for params, field in [({"rho": -2.0}, "rho"), ({"t_init": math.nan}, "t_init"),
                          ({"mu_max": math.inf}, "mu_max"), ({"lambda0": [0.3, -0.1, 0.8]},
                                                             "lambda0"),
                          ({"beta1": -0.8}, "beta1")]:
        spec = parse_spec({"name": "p", "datasets": ["multidigits"],
                           "methods": [{"name": "wc_al", "params": params}]}, "s.yaml")
        with pytest.raises(SpecError) as info:
            expand_sweep(spec)
        assert str(info.value).startswith(f"s.yaml: methods.0.params.{field}: {field} must be")
    spec = parse_spec({"name": "p", "datasets": ["multidigits"], "methods": ["cosmos"],
                       "search": {"space": {"params.penalty": [1.0, -1.0]}}}, "s.yaml")
    # a searched value is named where it was written: the search axis (and the method)
    with pytest.raises(SpecError, match=r"search\.space\.params\.penalty \(method 0, cosmos\): "
                                        r"penalty must be a finite number >= 0, got -1\.0"):
        expand_sweep(spec)


@pytest.mark.parametrize("setting", ["lr", "lr_decay", "momentum"])
@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_non_finite_training_settings_are_refused(tmp_path, setting, value):
    for text, field in [(f"train: {{{setting}: {value}}}", f"train.{setting}"),
                        (f"search: {{space: {{train.{setting}: [0.5, {value}]}}}}",
                         f"search.space.train.{setting}.1")]:
        path = tmp_path / "s.yaml"
        path.write_text(f"name: s\ndatasets: [multidigits]\nmethods: [linear]\n{text}\n")
        with pytest.raises(SpecError) as info:
            load_spec(path)
        assert f": {field}: " in str(info.value), str(info.value)


def test_the_cli_refuses_a_negative_rho_with_exit_2_and_writes_nothing(workdir, write_spec):
    spec = write_spec("""
        name: bad
        datasets: [{name: multidigits, n_train: 100, n_val: 50, n_test: 50}]
        methods: [{name: wc_al, params: {rho: -1}}]
        """)
    result = CliRunner().invoke(app, ["sweep", str(spec)])
    assert result.exit_code == 2, result.stdout
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "methods.0.params.rho: rho must be" in message
    assert not (workdir / "paretoctl.db").exists()


# ------------------------------------------------ the sparsity weights: only where L0 trains


def test_only_the_methods_that_train_sparsity_take_its_weights():
    from trainers.methods.base import SPARSITY_TABLE

    takes = {m for m in METHODS.names() if "beta1" in METHODS.get(m).param_table}
    assert takes == {"linear", "wc_al"}
    for method in takes:  # declared once, shared
        table = METHODS.get(method).param_table
        assert {name: table[name] for name in SPARSITY_TABLE} == SPARSITY_TABLE
    for method in set(METHODS.names()) - takes:
        assert not SPARSITY_TABLE.keys() & METHODS.get(method).param_table.keys(), method


def test_a_method_without_sparsity_refuses_its_weights_and_k0():
    spec = parse_spec({"name": "p", "datasets": ["multidigits"],
                       "methods": [{"name": "cosmos", "params": {"beta1": 0.5}}]}, "s.yaml")
    with pytest.raises(SpecError, match=r"s\.yaml: methods\.0\.params\.beta1: unknown parameter "
                                        r"of 'cosmos'"):
        expand_sweep(spec)
    loose = type("Dense", (Method,), {"name": "dense", "batch_loss": lambda s, *a: None})
    loose.check_preference([0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="dense has no sparsity objective: the preference's k0 "
                                         "must be 0"):
        loose.check_preference([0.1, 0.45, 0.45])


@pytest.mark.parametrize("method, params, betas", [("uniform", {}, (0.8, 0.2)),
                                                   ("linear", {"beta1": 0.5}, (0.5, 0.2))])
def test_the_sparsity_metric_uses_the_methods_weights_or_the_papers(method, params, betas):
    from contract.trial import TrialConfig
    from trainers.sparsity import growl_value
    from trainers.trial import build_model, evaluate_points, load_dataset

    config = TrialConfig.from_plain({
        "dataset": {"name": "multidigits", "options": {"n_train": 40, "n_val": 20, "n_test": 20}},
        "arch": {"name": "hps", "options": {"width": 0.5}}, "seed": 0,
        "method": {"name": method, "params": METHODS.get(method).resolve_params(params, "multidigits")},
        "preference": None if method == "uniform" else [0.0, 0.5, 0.5]})
    bundle = load_dataset(config)
    trained = METHODS.get(method)(config.preference and list(config.preference),
                                  config.method.options, len(bundle.tasks))
    model = build_model(config, bundle, trained)
    points = evaluate_points(model, trained, bundle, config, config.train, 0.0)
    with torch.no_grad():
        expected = float(growl_value([w for _, w in model.eligible_weights()], *betas))
    assert [p.metrics["sparsity"] for p in points] == [expected] * 3
