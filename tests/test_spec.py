"""Sweep-file parsing: defaults, normalisation, search expansion, and one-line errors."""
from __future__ import annotations

import textwrap

import pytest

from orchestrator.errors import SpecError, UserInputError
from orchestrator.spec import load_spec, parse_spec, preference_vectors

FULL = """
name: multimnist_90k
description: |
  The paper's Pareto study,
  two lines of text.
datasets: [multimnist, {name: cifar10mnist, noise: 0.1}]
architectures: [mdmtn, {name: hps, width: 2}]
methods:
  - name: wc_al
    preferences: {grid: paper90}
    params: {mu0: 0.01}
  - name: lin
    preferences: {simplex: {n_partitions: 4}, k0: [0, 1e-3]}
  - name: mgda
seeds: [0, 1]
train: {epochs: 10, batch_size: 256, lr: 1e-3, device: cuda:1, lr_decay: 0.5, optimizer: adam}
search:
  mode: grid
  space: {train.lr: [1e-3, 1e-2], params.mu0: [0.1, 1.0]}
resources: {gpus_per_trial: 0.5}
"""

MINIMAL = {"name": "s", "datasets": ["multimnist"], "methods": [{"name": "wc_al"}]}


def write(tmp_path, text: str, name: str = "sweep.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def spec_error(data, source: str = "sweep.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(data, source)
    return info.value


def with_(**changes):
    """MINIMAL with some top-level keys replaced (``None`` removes a key)."""
    data = {**MINIMAL, **changes}
    return {key: value for key, value in data.items() if value is not None}


def assert_names(err: SpecError, field: str, source: str = "sweep.yaml") -> None:
    text = str(err)
    assert err.field == field
    assert text.startswith(f"{source}: {field}: "), text
    assert "\n" not in text


# --------------------------------------------------------------------------- valid specs


def test_full_spec_parses(tmp_path):
    spec = load_spec(write(tmp_path, FULL))
    assert spec.name == "multimnist_90k"
    assert [(d.name, d.options) for d in spec.datasets] == [("multimnist", {}), ("cifar10mnist", {"noise": 0.1})]
    assert [(a.name, a.options) for a in spec.architectures] == [("mdmtn", {}), ("hps", {"width": 2})]
    assert [m.name for m in spec.methods] == ["wc_al", "lin", "mgda"]
    assert spec.methods[0].params == {"mu0": 0.01}
    assert spec.methods[1].preferences == {"simplex": {"n_partitions": 4}, "k0": [0, 0.001]}
    assert spec.train.lr == 0.001 and spec.train.device == "cuda:1" and spec.train.eval_batch_size is None
    assert spec.resources.gpus_per_trial == 0.5 and spec.resources.cpus_per_trial == 1
    assert spec.seeds == [0, 1]
    assert spec.source == str(tmp_path / "sweep.yaml")


def test_minimal_spec_gets_defaults():
    spec = parse_spec(MINIMAL, "mem")
    assert spec.seeds == [0]
    assert spec.architectures is None
    assert spec.description is None and spec.search is None
    assert spec.methods[0].preferences is None and spec.methods[0].params == {}
    assert spec.train.model_dump() == dict.fromkeys(spec.train.model_dump())  # all None
    assert (spec.resources.cpus_per_trial, spec.resources.gpus_per_trial, spec.resources.max_concurrent) == (1, 0, 2)
    assert spec.resources.max_failures == 0
    assert spec.search_points() == [{}]


def test_bare_method_name_and_dump_round_trip():
    spec = parse_spec(with_(methods=["mgda", {"name": "wc_al", "preferences": {"uniform": True}}]), "mem")
    assert [m.name for m in spec.methods] == ["mgda", "wc_al"]
    again = parse_spec(spec.model_dump(), "mem")
    assert again.model_dump() == spec.model_dump()


def test_grid_search_points_are_the_cartesian_product(tmp_path):
    spec = load_spec(write(tmp_path, FULL))
    assert spec.search_points() == [
        {"train": {"lr": 0.001}, "params": {"mu0": 0.1}},
        {"train": {"lr": 0.001}, "params": {"mu0": 1.0}},
        {"train": {"lr": 0.01}, "params": {"mu0": 0.1}},
        {"train": {"lr": 0.01}, "params": {"mu0": 1.0}},
    ]


def test_random_search_is_seeded_and_distinct():
    search = {"mode": "random", "space": {"train.lr": [1, 2, 3], "params.a": [4, 5, 6]}, "num_samples": 5}
    points = parse_spec(with_(search=search), "mem").search_points()
    assert len(points) == 5
    assert len({(p["train"]["lr"], p["params"]["a"]) for p in points}) == 5
    assert points == parse_spec(with_(search=search), "mem").search_points()
    other = parse_spec(with_(search={**search, "seed": 7}), "mem").search_points()
    assert other != points


def test_preference_vectors_checks_length_later():
    spec = parse_spec(with_(methods=[{"name": "a"}, {"name": "b", "preferences": {"explicit": [[0, 0.5, 0.5]]}}]), "f.yaml")
    assert preference_vectors(spec.methods[0], 2) is None
    assert preference_vectors(spec.methods[1], 2) == [[0.0, 0.5, 0.5]]
    with pytest.raises(SpecError) as info:
        preference_vectors(spec.methods[1], 3)
    assert_names(info.value, "methods.1.preferences.explicit.0", "f.yaml")
    assert "expected 4 entries (k0 + 3 tasks), got 3" in str(info.value)


# --------------------------------------------------------------------------- file and YAML errors


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert_names(info.value, "file", str(tmp_path / "nope.yaml"))


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\ndatasets: [m\nmethods: []\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert_names(info.value, "yaml", str(path))
    assert "line 3" in str(info.value)


def test_yaml_never_constructs_objects(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == "yaml"


def test_duplicate_yaml_key_is_an_error(tmp_path):
    path = write(tmp_path, "name: a\nname: b\ndatasets: [m]\nmethods: [x]\n")
    with pytest.raises(SpecError, match="duplicate key 'name'"):
        load_spec(path)


def test_exponent_floats_are_numbers(tmp_path):
    path = write(tmp_path, "name: a\ndatasets: [m]\nmethods: [x]\ntrain: {lr: 5e-4}\n")
    assert load_spec(path).train.lr == 5e-4


@pytest.mark.parametrize("text, got", [("- a\n- b\n", "a list"), ("", "an empty file"), ("just text\n", "a str")])
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    assert_names(info.value, "(top level)", str(tmp_path / "sweep.yaml"))
    assert got in str(info.value)


# --------------------------------------------------------------------------- field errors


@pytest.mark.parametrize(
    "data, field, message",
    [
        (with_(extra=1), "extra", "unknown key"),
        (with_(train={"epochs": 3, "epoch": 3}), "train.epoch", "unknown key"),
        (with_(resources={"gpus": 1}), "resources.gpus", "unknown key"),
        (with_(methods=[{"name": "a", "param": {}}]), "methods.0.param", "unknown key"),
        (with_(name=None), "name", "required"),
        (with_(datasets=None), "datasets", "required"),
        (with_(methods=None), "methods", "required"),
        (with_(methods=[]), "methods", "must not be empty"),
        (with_(datasets=[{"noise": 1}]), "datasets.0.name", "required"),
        (with_(seeds=[0, -1]), "seeds.1", "greater than or equal to 0"),
        (with_(seeds=[0, 1, 0]), "seeds.2", "duplicate of seeds.0"),
        (with_(seeds=[True]), "seeds.0", "valid integer"),
        (with_(train={"device": "gpu"}), "train.device", "expected auto, cpu, cuda or cuda:N"),
        (with_(train={"lr": -0.1}), "train.lr", "greater than 0"),
        (with_(train={"epochs": 0}), "train.epochs", "greater than 0"),
        (with_(resources={"max_concurrent": 0}), "resources.max_concurrent", "greater than 0"),
        (with_(resources={"cpus_per_trial": 0}), "resources.cpus_per_trial", "greater than 0"),
        (with_(resources={"max_failures": -1}), "resources.max_failures", "greater than or equal to 0"),
        (with_(resources={"max_failures": 101}), "resources.max_failures", "less than or equal to 100"),
        (with_(name="has space"), "name", "only letters"),
        (with_(datasets=["m", "m"]), "datasets.1", "duplicate of datasets.0"),
    ],
)
def test_bad_fields_are_named(data, field, message):
    err = spec_error(data)
    assert_names(err, field)
    assert message in err.message


@pytest.mark.parametrize(
    "preferences, field, message",
    [
        ({"explicit": [[0, 0.5, 0.5], [0, 1.1, -0.1]]}, "explicit.1.2", "negative entry -0.1"),
        ({"explicit": [[0, 0.4, 0.5]]}, "explicit.0", "entries must sum to 1 (got 0.9)"),
        ({"bar": 1}, "bar", "unknown preference form 'bar'"),
        ({"grid": "foo"}, "grid", "unknown grid 'foo' (known: paper90)"),
        ({"simplex": {"n_partitions": 4}, "k0": [0, 1.5]}, "k0.1", "k0 must be in [0, 1)"),
    ],
)
def test_bad_preferences_name_the_sub_field(preferences, field, message):
    methods = [{"name": "mgda"}, {"name": "wc_al", "preferences": preferences}]
    err = spec_error(with_(methods=methods))
    assert_names(err, f"methods.1.preferences.{field}")
    assert message in err.message


@pytest.mark.parametrize(
    "search, field",
    [
        ({"space": {"lr": [0.1]}}, "search.space.lr"),
        ({"space": {"model.width": [1, 2]}}, "search.space.model.width"),
        ({"space": {"train.warmup_epochs": [0.9]}}, "search.space.train.warmup_epochs"),
        ({"space": {"train.lr": [0.1, -1]}}, "search.space.train.lr.1"),
        ({"space": {"params.mu0": []}}, "search.space.params.mu0"),
        ({"space": {}}, "search.space"),
        ({"mode": "random", "space": {"train.lr": [0.1, 0.2]}}, "search.num_samples"),
        ({"mode": "random", "space": {"train.lr": [0.1, 0.2]}, "num_samples": 3}, "search.num_samples"),
        ({"mode": "grid", "space": {"train.lr": [0.1]}, "num_samples": 3}, "search.num_samples"),
        ({"mode": "bayes", "space": {"train.lr": [0.1]}}, "search.mode"),
    ],
)
def test_bad_search_is_named(search, field):
    assert_names(spec_error(with_(search=search)), field)


def test_spec_error_is_a_one_line_user_input_error():
    err = SpecError("a\nb.yaml", "x", "first line\n  second line")
    assert isinstance(err, UserInputError)
    assert str(err) == "a b.yaml: x: first line second line"


def test_load_errors_from_files_are_one_line(tmp_path):
    path = write(tmp_path, "name: a\ndatasets: [m]\nmethods:\n  - name: w\n    preferences: {explicit: [[0, 1, 0.5]]}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert_names(info.value, "methods.0.preferences.explicit.0", str(path))
