"""Sweep expansion: the cartesian product, resolved defaults, stable keys, and the
registry checks that the spec parser cannot make."""
import pytest

from orchestrator.errors import SpecError
from orchestrator.expand import expand_sweep, trial_key
from orchestrator.spec import parse_spec


def spec(**over):
    data = {"name": "t", "datasets": ["multidigits"],
            "methods": [{"name": "wc_al", "preferences": {"explicit": [[0, 0.5, 0.5], [0, 0.2, 0.8]]}}]}
    data.update(over)
    return parse_spec(data, "s.yaml")


def test_cartesian_product_of_methods_preferences_and_seeds():
    s = spec(methods=[{"name": "linear", "preferences": {"simplex": {"n_partitions": 2}}},
                      {"name": "wc_al", "preferences": {"explicit": [[0, 0.5, 0.5]]}}],
             seeds=[0, 1])
    trials = expand_sweep(s)
    assert len(trials) == (3 + 1) * 2
    assert {t["method"]["name"] for t in trials} == {"linear", "wc_al"}
    assert len({t["key"] for t in trials}) == len(trials)


def test_defaults_are_resolved_from_dataset_and_method_presets():
    trial = expand_sweep(spec())[0]
    assert trial["arch"]["name"] == "hps"  # the dataset's default architecture
    assert trial["train"]["epochs_per_iteration"] == 3  # WC-AL's p
    assert trial["train"]["lr"] == pytest.approx(3e-3)  # the dataset's preset
    assert trial["method"]["params"]["eps"] == pytest.approx(1e-4)
    assert trial["dataset"]["options"]["n_train"] == 4000


def test_spec_values_override_presets_and_search_axes_override_spec():
    s = spec(train={"epochs": 3, "lr": 0.01},
             search={"mode": "grid", "space": {"train.lr": [0.1, 0.2], "params.mu0": [1.0]}})
    trials = expand_sweep(s)
    assert sorted({t["train"]["lr"] for t in trials}) == [0.1, 0.2]
    assert all(t["train"]["epochs"] == 3 for t in trials)
    assert all(t["method"]["params"]["mu0"] == 1.0 for t in trials)
    assert len(trials) == 2 * 2


def test_key_is_stable_and_ignores_where_the_trial_runs():
    a = expand_sweep(spec(), data_dir="/a", threads=1)
    b = expand_sweep(spec(train={"device": "cpu"}), data_dir="/b", threads=2)
    assert [t["key"] for t in a] == [t["key"] for t in b]
    changed = expand_sweep(spec(train={"epochs": 99}))
    assert changed[0]["key"] != a[0]["key"]
    assert trial_key(a[0]) == a[0]["key"]


def test_same_trial_twice_in_one_sweep_runs_once():
    s = spec(methods=[{"name": "linear", "preferences": {"explicit": [[0, 0.5, 0.5]]}},
                      {"name": "linear", "preferences": {"uniform": True}}])
    assert len(expand_sweep(s)) == 1


def test_method_without_preferences_gets_uniform_weights():
    trials = expand_sweep(spec(methods=[{"name": "linear"}]))
    assert [t["preference"] for t in trials] == [[0.0, 0.5, 0.5]]


@pytest.mark.parametrize("over, field", [
    ({"datasets": ["nope"]}, "datasets.0.name"),
    ({"datasets": [{"name": "multidigits", "n_trian": 5}]}, "datasets.0.n_trian"),
    ({"architectures": ["nope"]}, "architectures.0.name"),
    ({"architectures": [{"name": "hps", "widht": 2}]}, "architectures.0.widht"),
    ({"methods": [{"name": "nope"}]}, "methods.0.name"),
    ({"methods": [{"name": "wc_al", "params": {"mu": 1}}]}, "methods.0.params.mu"),
    ({"methods": [{"name": "wc_al", "preferences": {"explicit": [[0.5, 0.5]]}}]}, "methods.0.preferences.explicit.0"),
])
def test_unknown_names_and_wrong_lengths_name_their_field(over, field):
    with pytest.raises(SpecError) as info:
        expand_sweep(spec(**over))
    message = str(info.value)
    assert message.startswith(f"s.yaml: {field}:"), message
    assert "\n" not in message


def test_preference_length_follows_the_tasks_chosen_by_options():
    # celeba's tasks are an option: three attributes need k0 + 3 entries
    s = parse_spec({"name": "c", "datasets": [{"name": "celeba", "attributes": ["Smiling", "Young", "Male"]}],
                    "methods": [{"name": "linear", "preferences": {"explicit": [[0, 0.2, 0.3, 0.5]]}}]}, "s.yaml")
    assert [t["preference"] for t in expand_sweep(s)] == [[0, 0.2, 0.3, 0.5]]


def test_a_method_can_name_its_own_architectures():
    s = spec(architectures=["hps"],
             methods=[{"name": "linear"},
                      {"name": "stl", "architectures": ["stl"]},
                      {"name": "uniform", "architectures": ["hps", {"name": "hps", "width": 2}]}])
    pairs = sorted((t["method"]["name"], t["arch"]["name"], t["arch"]["options"]["width"])
                   for t in expand_sweep(s))
    # linear runs on the sweep's hps only (not on stl), stl only on its own
    assert pairs == [("linear", "hps", 1.0), ("stl", "stl", 1.0),
                     ("uniform", "hps", 1.0), ("uniform", "hps", 2)]


@pytest.mark.parametrize("method, field", [
    ({"name": "stl", "architectures": ["hps"]}, "methods.0.architectures.0.name"),
    ({"name": "linear", "architectures": ["nope"]}, "methods.0.architectures.0.name"),
    ({"name": "linear", "architectures": [{"name": "hps", "depth": 3}]}, "methods.0.architectures.0.depth"),
    ({"name": "stl"}, "methods.0.name"),
])
def test_method_architectures_that_cannot_work_name_their_field(method, field):
    with pytest.raises(SpecError) as info:
        expand_sweep(spec(methods=[method]))
    assert str(info.value).startswith(f"s.yaml: {field}:"), str(info.value)


def test_a_preference_the_method_cannot_use_fails_the_expansion():
    s = spec(methods=[{"name": "pmtl", "preferences": {"explicit": [[0, 0.5, 0.5], [0.1, 0.45, 0.45]]}}])
    with pytest.raises(SpecError) as info:
        expand_sweep(s)
    assert str(info.value).startswith("s.yaml: methods.0.preferences.1: pmtl has no sparsity objective")


def test_a_search_axis_a_method_lacks_is_named_as_the_search_axis(write_spec):
    from orchestrator.errors import SpecError
    from orchestrator.spec import load_spec

    path = write_spec("""
        name: s
        datasets: [multidigits]
        methods: [linear, wc_al]
        search: {space: {params.mu0: [0.1, 1.0]}}
    """)
    with pytest.raises(SpecError) as info:
        expand_sweep(load_spec(path))
    assert info.value.field == "search.space.params.mu0 (method 0, linear)"
    assert "unknown parameter of 'linear'" in info.value.message
