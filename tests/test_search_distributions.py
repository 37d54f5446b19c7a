"""Search axes given as distributions ({uniform|loguniform|int: [lo, hi], samples: N}):
seeded draws (the same file gives the same trial keys), bounds, and one-line errors."""
from __future__ import annotations

import math

import pytest

from orchestrator.errors import SpecError
from orchestrator.expand import expand_sweep
from orchestrator.spec import parse_spec

BASE = {"name": "t", "datasets": ["multidigits"],
        "methods": [{"name": "wc_al", "preferences": {"explicit": [[0, 0.5, 0.5]]}}]}


def parsed(search):
    return parse_spec({**BASE, "search": search}, "s.yaml")


def axis(search, key):
    return parsed(search).search.space[key]


def test_each_distribution_draws_its_samples_inside_the_bounds():
    space = {"train.lr": {"loguniform": [1e-4, 1e-1], "samples": 6},
             "params.mu0": {"uniform": [0.1, 2], "samples": 4},
             "train.epochs": {"int": [1, 9], "samples": 5}}
    spec = parsed({"space": space})
    lr, mu0, epochs = (spec.search.space[k] for k in space)
    assert len(lr) == 6 and all(1e-4 <= v <= 1e-1 for v in lr) and lr == sorted(lr)
    # log-uniform: spread over the decades, not crowded at the top
    assert min(lr) < 1e-2
    assert len(mu0) == 4 and all(0.1 <= v <= 2 and isinstance(v, float) for v in mu0)
    assert len(set(epochs)) == 5 and all(type(v) is int and 1 <= v <= 9 for v in epochs)
    assert all(float(f"{v:.6g}") == v for v in lr + mu0)  # rounded to 6 digits
    assert len(spec.search_points()) == 6 * 4 * 5  # a grid over the drawn values


def test_the_same_file_gives_the_same_trial_keys_and_the_seed_changes_them():
    search = {"space": {"train.lr": {"loguniform": [1e-4, 1e-2], "samples": 3},
                        "params.mu0": [0.5, 1.0]}}
    first = [t["key"] for t in expand_sweep(parsed(search))]
    again = [t["key"] for t in expand_sweep(parsed(search))]
    assert first == again and len(set(first)) == 6
    other = [t["key"] for t in expand_sweep(parsed({**search, "seed": 1}))]
    assert set(other).isdisjoint(first)  # other learning rates: other trials
    assert axis({**search, "seed": 1}, "train.lr") != axis(search, "train.lr")


def test_an_axis_draws_the_same_values_whatever_the_other_axes():
    alone = axis({"space": {"train.lr": {"uniform": [0.001, 0.01], "samples": 3}}}, "train.lr")
    beside = axis({"space": {"params.mu0": {"uniform": [1, 2], "samples": 9},
                             "train.lr": {"uniform": [0.001, 0.01], "samples": 3}}}, "train.lr")
    assert alone == beside


def test_random_mode_samples_from_the_drawn_values():
    search = {"mode": "random", "num_samples": 4,
              "space": {"train.lr": {"uniform": [0.001, 0.01], "samples": 10}, "params.mu0": [1.0, 2.0]}}
    points = parsed(search).search_points()
    assert len(points) == 4 and points == parsed(search).search_points()
    assert all(0.001 <= p["train"]["lr"] <= 0.01 for p in points)


@pytest.mark.parametrize("space, field, fragment", [
    ({"params.mu0": {"uniform": [2, 1], "samples": 3}}, "search.space.params.mu0.uniform", "lo < hi"),
    ({"params.mu0": {"uniform": [1, 1], "samples": 3}}, "search.space.params.mu0.uniform", "lo < hi"),
    ({"train.lr": {"loguniform": [0, 0.1], "samples": 3}}, "search.space.train.lr.loguniform", "lo > 0"),
    ({"train.lr": {"loguniform": [-1, 0.1], "samples": 3}}, "search.space.train.lr.loguniform", "lo > 0"),
    ({"train.epochs": {"int": [1.5, 4], "samples": 2}}, "search.space.train.epochs.int", "whole numbers"),
    ({"train.epochs": {"int": [1, 4], "samples": 5}}, "search.space.train.epochs.samples", "do not fit"),
    ({"params.mu0": {"uniform": [0, float("inf")], "samples": 2}}, "search.space.params.mu0.uniform", "finite"),
    ({"params.mu0": {"uniform": [0, 1]}}, "search.space.params.mu0.samples", "1..1000"),
    ({"params.mu0": {"uniform": [0, 1], "samples": 1001}}, "search.space.params.mu0.samples", "1..1000"),
    ({"params.mu0": {"uniform": [0, 1], "samples": 0}}, "search.space.params.mu0.samples", "1..1000"),
    ({"params.mu0": {"uniform": [0, 1, 2], "samples": 2}}, "search.space.params.mu0.uniform", "[lo, hi]"),
    ({"params.mu0": {"normal": [0, 1], "samples": 2}}, "search.space.params.mu0.normal", "unknown key"),
    ({"params.mu0": {"uniform": [0, 1], "int": [0, 1], "samples": 2}}, "search.space.params.mu0", "one distribution"),
    ({"params.mu0": {"uniform": [0.1, 0.1000001], "samples": 50}}, "search.space.params.mu0.samples", "repeat"),
])
def test_bad_distributions_are_named_in_one_line(space, field, fragment):
    with pytest.raises(SpecError) as info:
        parsed({"space": space})
    text = str(info.value)
    assert info.value.field == field, text
    assert fragment in text and "\n" not in text


def test_a_drawn_train_value_is_checked_like_a_listed_one():
    with pytest.raises(SpecError) as info:
        parsed({"space": {"train.lr": {"uniform": [-1.0, -0.5], "samples": 2}}})
    assert info.value.field.startswith("search.space.train.lr"), str(info.value)


def test_loguniform_is_uniform_in_the_logarithm():
    values = axis({"space": {"train.lr": {"loguniform": [1e-6, 1.0], "samples": 600}}}, "train.lr")
    logs = [math.log10(v) for v in values]
    below = sum(v < -3 for v in logs)  # half the log range: about half the draws
    assert 200 < below < 400
