"""Preference expansion: every form, the paper's 90 vectors, and the error sub-paths."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from trainers.preferences import FORMS, PAPER90, PreferenceError, expand, validate_vector


def sums_to_one(vec: list[float]) -> bool:
    return abs(math.fsum(vec) - 1.0) <= 1e-9


def error_of(spec, n_tasks=None) -> PreferenceError:
    with pytest.raises(PreferenceError) as info:
        expand(spec, n_tasks)
    return info.value


# --------------------------------------------------------------------------- explicit


def test_explicit_valid_vectors_come_back_as_floats():
    vectors = expand({"explicit": [[0, 0.4, 0.6], [0.1, 0.45, 0.45]]}, 2)
    assert vectors == [[0.0, 0.4, 0.6], [0.1, 0.45, 0.45]]
    assert all(isinstance(v, float) for vec in vectors for v in vec)


def test_explicit_negative_entry_names_the_entry():
    err = error_of({"explicit": [[0, 0.5, 0.5], [0, 1.1, -0.1]]})
    assert err.field == "explicit.1.2"
    assert "negative entry -0.1" in err.message


def test_explicit_sum_not_one():
    err = error_of({"explicit": [[0, 0.4, 0.6], [0, 0.4, 0.5]]})
    assert err.field == "explicit.1"
    assert err.message == "entries must sum to 1 (got 0.9)"


def test_explicit_wrong_length_when_tasks_known():
    err = error_of({"explicit": [[0.5, 0.5]]}, n_tasks=2)
    assert err.field == "explicit.0"
    assert err.message == "expected 3 entries (k0 + 2 tasks), got 2"


def test_explicit_length_unchecked_without_tasks_but_consistent():
    assert expand({"explicit": [[0, 0.25, 0.25, 0.5]]}) == [[0.0, 0.25, 0.25, 0.5]]
    err = error_of({"explicit": [[0, 0.5, 0.5], [0, 0.25, 0.25, 0.5]]})
    assert err.field == "explicit.1"


@pytest.mark.parametrize("value", [[], None, "0, 0.5, 0.5"])
def test_explicit_empty_or_not_a_list(value):
    assert error_of({"explicit": value}).field == "explicit"


def test_explicit_rejects_non_numbers_and_duplicates():
    assert error_of({"explicit": [[0, "0.5", 0.5]]}).field == "explicit.0.1"
    assert error_of({"explicit": [[0, True, 0]]}).field == "explicit.0.1"
    assert error_of({"explicit": [[0, 0.5, 0.5], [0, 0.5, 0.5]]}).field == "explicit.1"


def test_too_many_explicit_vectors_are_refused_before_any_is_checked(monkeypatch):
    # the count comes first, so a huge list is refused at once (20,000 vectors checked
    # one by one before the refusal once took half a minute)
    from trainers import preferences

    checked = []
    monkeypatch.setattr(preferences, "validate_vector",
                        lambda vec, *args, **kwargs: checked.append(vec) or list(vec))
    vectors = [[0, i / 20_000, 1 - i / 20_000] for i in range(20_000)]
    error = error_of({"explicit": vectors})
    assert error.field == "explicit" and "20000 vectors (limit 10000)" in str(error)
    assert checked == []


def test_validate_vector_directly():
    assert validate_vector([0, 0.3, 0.7], 2) == [0.0, 0.3, 0.7]
    with pytest.raises(PreferenceError, match="expected 4 entries"):
        validate_vector([0, 0.3, 0.7], 3)
    with pytest.raises(PreferenceError, match="at least one task"):
        validate_vector([1.0], None)


# --------------------------------------------------------------------------- simplex


def test_simplex_two_tasks_four_partitions_per_k0():
    vectors = expand({"simplex": {"n_partitions": 4}, "k0": [0, 1e-3]}, 2)
    assert len(vectors) == 2 * 5
    assert [v[0] for v in vectors] == [0.0] * 5 + [1e-3] * 5
    assert vectors[:5] == [[0.0, 0.0, 1.0], [0.0, 0.25, 0.75], [0.0, 0.5, 0.5], [0.0, 0.75, 0.25], [0.0, 1.0, 0.0]]


def test_simplex_three_tasks_three_partitions():
    vectors = expand({"simplex": {"n_partitions": 3}}, 3)
    assert len(vectors) == 10
    assert all(len(v) == 4 and v[0] == 0.0 for v in vectors)
    assert len({tuple(v) for v in vectors}) == 10


def test_simplex_n_tasks_inside_the_form_overrides_the_default():
    assert len(expand({"simplex": {"n_partitions": 3, "n_tasks": 3}})) == 10
    assert len(expand({"simplex": {"n_partitions": 3}})) == 4  # default m = 2


def test_simplex_scales_task_weights_by_one_minus_k0():
    k0 = 0.1
    plain = expand({"simplex": {"n_partitions": 4}}, 2)
    scaled = expand({"simplex": {"n_partitions": 4}, "k0": [k0]}, 2)
    for p, s in zip(plain, scaled):
        assert s[0] == k0
        assert s[1:] == pytest.approx([(1 - k0) * x for x in p[1:]], abs=1e-12)
        assert sums_to_one(s)


def test_simplex_is_deterministic_and_sums_to_one():
    spec = {"simplex": {"n_partitions": 6}, "k0": [0, 0.01, 0.001]}
    first, second = expand(spec, 3), expand(spec, 3)
    assert first == second
    assert all(sums_to_one(v) and min(v) >= 0 for v in first)


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"simplex": {}}, "simplex.n_partitions"),
        ({"simplex": {"n_partitions": 0}}, "simplex.n_partitions"),
        ({"simplex": {"n_partitions": 2.5}}, "simplex.n_partitions"),
        ({"simplex": {"n_partitions": 3, "points": 2}}, "simplex.points"),
        ({"simplex": {"n_partitions": 3}, "k0": [0, 1.0]}, "k0.1"),
        ({"simplex": {"n_partitions": 3}, "k0": [0.1, 0.1]}, "k0.1"),
        ({"simplex": {"n_partitions": 10_000}, "k0": [0]}, "simplex.n_partitions"),
    ],
)
def test_simplex_errors_name_their_field(spec, field):
    assert error_of(spec, 3).field == field


def test_simplex_n_tasks_must_match_the_dataset():
    assert error_of({"simplex": {"n_partitions": 3, "n_tasks": 3}}, 2).field == "simplex.n_tasks"


# --------------------------------------------------------------------------- paper90


def test_paper90_has_ninety_unique_valid_vectors():
    vectors = expand({"grid": "paper90"}, 2)
    assert len(vectors) == 90 == len(PAPER90)
    assert len({tuple(v) for v in vectors}) == 90
    assert all(len(v) == 3 and sums_to_one(v) and min(v) >= 0 for v in vectors)


def test_paper90_counts_per_k0_in_paper_order():
    vectors = expand({"grid": "paper90"})
    assert Counter(v[0] for v in vectors) == {0.0: 19, 0.1: 17, 0.01: 18, 0.001: 18, 0.0001: 18}
    order = list(dict.fromkeys(v[0] for v in vectors))
    assert order == [0.0, 0.1, 0.01, 0.001, 0.0001]


@pytest.mark.parametrize(
    "vector",
    [(0, 0.4, 0.6), (1e-3, 0.2, 0.799), (0.01, 0.8, 0.19), (0.1, 0.6, 0.3), (1e-4, 0.5, 0.4999)],
)
def test_paper90_contains_the_papers_vectors(vector):
    assert list(vector) in expand({"grid": "paper90"}, 2)


def test_paper90_k0_blocks_follow_the_table():
    vectors = expand({"grid": "paper90"})
    block = [v[1] for v in vectors if v[0] == 0.01]
    assert block[:4] == [0.09, 0.1, 0.19, 0.2] and block[-1] == 0.9
    assert [v[1] for v in vectors if v[0] == 0.1][-1] == 0.85


def test_paper90_only_for_two_tasks():
    err = error_of({"grid": "paper90"}, 3)
    assert err.field == "grid" and "2 tasks" in err.message


# --------------------------------------------------------------------------- uniform and form errors


def test_uniform_is_one_equal_weight_vector():
    assert expand({"uniform": True}, 2) == [[0.0, 0.5, 0.5]]
    (vec,) = expand({"uniform": True}, 3)
    assert len(vec) == 4 and vec[0] == 0 and vec[1] == vec[2] == vec[3] and sums_to_one(vec)
    assert error_of({"uniform": False}).field == "uniform"


def test_unknown_form():
    err = error_of({"bar": 1})
    assert err.field == "bar"
    assert err.message == "unknown preference form 'bar' (known: explicit, simplex, grid, uniform)"
    assert FORMS == ("explicit", "simplex", "grid", "uniform")


def test_unknown_grid():
    err = error_of({"grid": "foo"})
    assert err.field == "grid"
    assert err.message == "unknown grid 'foo' (known: paper90)"


@pytest.mark.parametrize(
    "spec, field",
    [
        ({}, ""),
        ({"grid": "paper90", "uniform": True}, ""),
        ({"grid": "paper90", "k0": [0.1]}, "k0"),
        ([[0, 0.5, 0.5]], ""),
    ],
)
def test_form_count_and_k0_placement(spec, field):
    assert error_of(spec).field == field


def test_error_str_includes_the_field():
    assert str(error_of({"explicit": [[0, 0.5, 0.4]]})) == "explicit.0: entries must sum to 1 (got 0.9)"


# ----------------------------------------------------------------------------- rays

def test_test_rays_are_angle_spaced_and_sum_to_one():
    from trainers.preferences import test_rays

    rays = test_rays(25)
    assert len(rays) == 25
    assert all(abs(sum(r) - 1) < 1e-9 and min(r) > 0 for r in rays)
    assert rays[0] == pytest.approx([0.909, 0.091], abs=1e-3)
    assert rays[-1] == pytest.approx([0.091, 0.909], abs=1e-3)
    ratios = [math.atan2(r[1], r[0]) for r in rays]
    steps = [b - a for a, b in zip(ratios, ratios[1:])]
    assert max(steps) - min(steps) < 1e-9  # even in angle


def test_dirichlet_rays_are_seeded_and_on_the_simplex():
    import numpy as np

    from trainers.preferences import PreferenceError, dirichlet_ray

    a = [dirichlet_ray(1.2, 2, np.random.default_rng(0)) for _ in range(2)]
    assert a[0].tolist() == a[1].tolist()
    draws = np.stack([dirichlet_ray(0.2, 3, np.random.default_rng(s)) for s in range(200)])
    assert np.allclose(draws.sum(axis=1), 1, atol=1e-6) and (draws >= 0).all()
    assert (draws.max(axis=1) > 0.9).mean() > 0.3  # small alpha samples near the vertices
    with pytest.raises(PreferenceError):
        dirichlet_ray([0.1, -1], 2, np.random.default_rng(0))
