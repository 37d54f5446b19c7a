"""Tests for analysis.front: nondominance (vs a brute-force oracle), hypervolume, objectives."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from analysis import front
from analysis.front import (
    compute_front,
    default_objectives,
    default_ref_point,
    expand_objectives,
    hypervolume,
    minimised_matrix,
    nondominated,
)


def oracle(points: np.ndarray, eps) -> np.ndarray:
    """The eps rule, literally, in O(n^2): p is removed when another q beats it by eps."""
    n, d = points.shape
    eps = np.broadcast_to(np.asarray(eps, dtype=float), (d,))
    keep = []
    for i in range(n):
        target = points[i] - eps
        beaten = any(
            np.all(points[j] <= target) and np.any(points[j] < target) for j in range(n) if j != i
        )
        if not beaten:
            keep.append(i)
    return np.array(keep, dtype=int)


def tied_points(seed: int, n: int, d: int) -> np.ndarray:
    """Small-integer points (many ties) plus exact duplicates of some rows."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 6, size=(n, d)).astype(float)
    duplicates = base[rng.integers(0, n, size=n // 4)]
    return rng.permutation(np.vstack([base, duplicates]))


EPS_CASES = [0.0, 0.5, 1.0, 2.0]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("eps", EPS_CASES)
def test_nondominated_matches_oracle_on_ties(seed, d, eps):
    points = tied_points(seed, 60, d)
    np.testing.assert_array_equal(nondominated(points, eps), oracle(points, eps))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "eps", [[1.0, 0.0], [0.0, 0.5], [2.0, 1.0], [0.5, 0.0, 1.0], [1.0, 1.0, 0.0]]
)
def test_nondominated_per_objective_eps_matches_oracle(seed, eps):
    points = tied_points(seed, 50, len(eps))
    np.testing.assert_array_equal(nondominated(points, eps), oracle(points, eps))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_nondominated_continuous_data_matches_oracle(seed, eps):
    points = np.random.default_rng(100 + seed).random((150, 3))
    np.testing.assert_array_equal(nondominated(points, eps), oracle(points, eps))


@pytest.mark.parametrize("d", [1, 4, 5])
@pytest.mark.parametrize("eps", [0.0, 1.0, [0.5, 0.0, 1.0, 2.0, 0.0]])
def test_one_and_many_objectives_match_the_oracle(d, eps):
    points = tied_points(7, 200, d)
    eps = eps[:d] if isinstance(eps, list) else eps
    np.testing.assert_array_equal(nondominated(points, eps), oracle(points, eps))


def test_eps_targets_equal_to_a_front_point_survive():
    # p - eps lands exactly on a front point (weakly, not strictly, beaten): p stays;
    # p - eps strictly behind a front point: p goes
    points = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 2.0], [0.0, 1.0, 0.0], [1.0, 2.0, 1.5]])
    np.testing.assert_array_equal(nondominated(points, 1.0), oracle(points, 1.0))
    assert nondominated(points, 1.0).tolist() == [0, 1, 2]


def test_duplicates_are_all_kept_and_result_sorted():
    points = np.array([[2.0, 2.0], [1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [3.0, 1.0]])
    result = nondominated(points)
    assert result.tolist() == [0, 1, 2, 4]
    assert np.issubdtype(result.dtype, np.integer)


def test_eps_keeps_near_front_points_and_removes_far_ones():
    points = np.array([[1.0, 1.0], [1.05, 1.05], [3.0, 3.0]])
    assert nondominated(points, 0.0).tolist() == [0]
    assert nondominated(points, 0.1).tolist() == [0, 1]


def test_nondominated_empty_and_nan_and_bad_eps():
    assert nondominated(np.empty((0, 2))).tolist() == []
    assert nondominated([]).tolist() == []
    with pytest.raises(ValueError, match="NaN"):
        nondominated(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="eps"):
        nondominated(np.ones((3, 2)), eps=-0.1)
    with pytest.raises(ValueError, match="eps"):
        nondominated(np.ones((3, 2)), eps=[0.1, 0.1, 0.1])


def test_hypervolume_2d_staircase():
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(points, [4.0, 4.0]) == pytest.approx(6.0)


def test_hypervolume_ignores_dominated_and_outside_points():
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0], [5.0, 0.0], [4.0, 1.0]])
    assert hypervolume(points, [4.0, 4.0]) == pytest.approx(6.0)


def test_hypervolume_3d_by_inclusion_exclusion():
    # Three boxes of volume 3*3*1 = 9 up to (4,4,4); each pair overlaps in a
    # 3*1*1 = 3 box, all three in a 1*1*1 box: 27 - 9 + 1 = 19.
    points = np.array([[1.0, 1.0, 3.0], [1.0, 3.0, 1.0], [3.0, 1.0, 1.0]])
    assert hypervolume(points, [4.0, 4.0, 4.0]) == pytest.approx(19.0)
    assert hypervolume([[1.0, 2.0, 3.0]], [4.0, 4.0, 4.0]) == pytest.approx(6.0)


def test_hypervolume_empty_and_nothing_inside():
    assert hypervolume(np.empty((0, 2)), [1.0, 1.0]) == 0.0
    assert hypervolume([[1.0, 0.5]], [1.0, 1.0]) == 0.0


def frame() -> pd.DataFrame:
    """A load_points-like frame with two classification tasks."""
    return pd.DataFrame(
        {
            "trial": ["a" * 16, "b" * 16, "c" * 16, "d" * 16],
            "method": ["wc_al", "wc_al", "mgda", "mgda"],
            "arch": ["lenet"] * 4,
            "seed": [0, 0, 1, 1],
            "split": ["test"] * 4,
            "ray_index": [0, 0, 0, 3],
            "preference": [[0.0, 0.5, 0.5], [0.0, 0.2, 0.8], None, [0.1, 0.9]],
            "sparsity": [0.5, 0.1, np.nan, 0.2],
            "sr": [0.3, 0.1, 0.0, 0.2],
            "cr": [2.0, 1.0, 1.0, np.nan],
            "ps": [1.4, 0.9, 1.0, 1.0],
            "loss.left": [0.3, 0.5, 0.2, 0.9],
            "loss.right": [0.6, 0.4, 0.9, 0.2],
            "acc.left": [0.9, 0.8, 0.95, 0.7],
            "acc.right": [0.8, 0.85, 0.6, np.nan],
            "mcr.left": [0.1, 0.2, 0.05, 0.3],
            "mcr.right": [0.2, 0.15, 0.4, np.nan],
        }
    )


def test_expand_objectives_globs_and_order():
    cols = frame().columns
    assert expand_objectives(["mcr.*"], cols) == ["mcr.left", "mcr.right"]
    assert expand_objectives(["loss.right", "sparsity"], cols) == ["loss.right", "sparsity"]
    assert expand_objectives("mcr.left,sr", cols) == ["mcr.left", "sr"]
    assert expand_objectives(["*.left", "loss.*"], cols) == [
        "loss.left",
        "acc.left",
        "mcr.left",
        "loss.right",
    ]


@pytest.mark.parametrize("pattern", ["foo.*", "mcr.middle", "cr.left", "acc", "point_id", "trial"])
def test_expand_objectives_rejects_unknown(pattern):
    with pytest.raises(ValueError, match=pattern.replace("*", r"\*")):
        expand_objectives([pattern], frame().columns)


def test_default_objectives_mcr_when_all_tasks_have_accuracy():
    assert default_objectives(frame()) == ["mcr.left", "mcr.right"]


def test_default_objectives_loss_when_a_task_has_no_accuracy():
    df = frame()
    df["acc.right"] = np.nan
    df["mcr.right"] = np.nan
    assert default_objectives(df) == ["loss.left", "loss.right"]


def test_minimised_matrix_complements_acc_and_sr():
    df = frame()
    matrix = minimised_matrix(df, ["acc.left", "sr", "loss.right", "mcr.left", "sparsity"])
    np.testing.assert_allclose(matrix[:, 0], 1 - df["acc.left"])
    np.testing.assert_allclose(matrix[:, 1], 1 - df["sr"])
    np.testing.assert_allclose(matrix[:, 2], df["loss.right"])
    np.testing.assert_allclose(matrix[:, 3], df["mcr.left"])
    np.testing.assert_allclose(matrix[:, 4], df["sparsity"])


def test_default_ref_point():
    objectives = ["mcr.left", "loss.right", "sparsity", "sr", "acc.left"]
    matrix = np.array([[0.1, 0.6, 0.5, 0.7, 0.1], [0.2, 0.4, np.nan, 0.9, 0.2]])
    assert default_ref_point(objectives, matrix) == pytest.approx([1.0, 0.66, 0.55, 1.0, 1.0])


def test_compute_front_drops_nan_rows_and_sorts_by_first_objective():
    df = frame()
    result = compute_front(df, ["mcr.left", "mcr.right"], eps=0.0)
    # Row 3 has no acc.right: dropped although its mcr.left would not matter.
    assert result.n_dropped_nan == 1
    assert result.n_candidates == 3
    # Rows 0 (0.1, 0.2), 1 (0.2, 0.15), 2 (0.05, 0.4) are mutually nondominated.
    assert result.front_df["trial"].tolist() == ["c" * 16, "a" * 16, "b" * 16]
    np.testing.assert_allclose(
        np.array(result.front_df["values"].tolist()), [[0.05, 0.4], [0.1, 0.2], [0.2, 0.15]]
    )
    assert result.front_df["minimised"].tolist() == result.front_df["values"].tolist()
    expected_hv = hypervolume(np.array([[0.05, 0.4], [0.1, 0.2], [0.2, 0.15]]), [1.0, 1.0])
    assert result.hypervolume == pytest.approx(expected_hv)
    assert result.ref_point == [1.0, 1.0]


def test_compute_front_acc_objective_enters_complemented_and_shows_accuracy():
    result = compute_front(frame(), ["acc.left"])
    assert result.front_df["trial"].tolist() == ["c" * 16]
    assert result.front_df["values"].tolist() == [[0.95]]
    np.testing.assert_allclose(np.array(result.front_df["minimised"].tolist()), [[0.05]])
    assert result.ref_point == [0.0] and result.ref_point_minimised == [1.0]
    assert result.hypervolume == pytest.approx(0.95)


def test_compute_front_ref_point_in_own_units():
    # (acc.left, loss.right): a (0.9, 0.6), b (0.8, 0.4), c (0.95, 0.9), d (0.7, 0.2), all on
    # the front; an accuracy above 0.85 leaves only c and a inside
    result = compute_front(frame(), ["acc.left", "loss.right"], ref_point=[0.85, 1.0])
    assert result.ref_point == [0.85, 1.0]
    np.testing.assert_allclose(result.ref_point_minimised, [0.15, 1.0])
    assert result.front_df["trial"].tolist() == ["c" * 16, "a" * 16, "b" * 16, "d" * 16]
    assert result.front_df["outside_ref"].tolist() == [False, False, True, True]
    assert result.n_outside_ref == 2
    # boxes of c (0.1 x 0.1) and a (0.05 x 0.4) overlapping in 0.05 x 0.1
    assert result.hypervolume == pytest.approx(0.1 * 0.1 + 0.05 * 0.4 - 0.05 * 0.1)


def test_every_registered_metric_is_an_objective_in_its_direction():
    df = frame()
    assert expand_objectives("cr,ps,mcr.left", df.columns) == ["cr", "ps", "mcr.left"]
    assert front.maximised(["cr", "ps", "sparsity", "loss.left", "acc.right"]) == [
        "cr", "ps", "acc.right"]


def test_default_ref_point_of_a_maximised_metric_that_is_no_rate():
    # CR 2 and 3 (minimised 1 - CR: -1, -2): 10% below the smallest CR in own units, 1.8
    ref = default_ref_point(["cr", "loss.left"], front.minimise(["cr", "loss.left"],
                                                                [[2.0, 0.5], [3.0, 1.0]]))
    assert ref == pytest.approx([1 - 1.8, 1.1])
    result = compute_front(frame(), ["cr", "mcr.left"])  # CR 2, 1, 1 (row 3 has none)
    assert result.ref_point == pytest.approx([0.9, 1.0])
    assert result.front_df["trial"].tolist() == ["a" * 16, "c" * 16]
    # boxes (2 - 0.9) x (1 - 0.1) and (1 - 0.9) x (1 - 0.05), overlapping in 0.1 x 0.9
    assert result.hypervolume == pytest.approx(1.1 * 0.9 + 0.1 * 0.95 - 0.1 * 0.9)


def test_store_front_keeps_the_stable_entry_points():
    from store import front as stable

    assert stable.nondominated is nondominated and stable.hypervolume is hypervolume


def test_minimise_is_its_own_inverse():
    objectives = ["acc.left", "mcr.left", "sr", "loss.right"]
    values = np.array([[0.9, 0.1, 0.25, 2.0], [0.5, 0.5, 0.0, 0.1]])
    minimised = front.minimise(objectives, values)
    np.testing.assert_allclose(minimised, [[0.1, 0.1, 0.75, 2.0], [0.5, 0.5, 1.0, 0.1]])
    np.testing.assert_allclose(front.minimise(objectives, minimised), values)
    assert front.maximised(objectives) == ["acc.left", "sr"]


@pytest.mark.parametrize("patterns, repeated", [
    (["mcr.left", "mcr.left"], "mcr.left"), ("sr,mcr.left,sr", "sr"), (["mcr.*", "mcr.*"], "mcr.*"),
])  # fmt: skip
def test_expand_objectives_refuses_a_repeated_pattern(patterns, repeated):
    with pytest.raises(ValueError, match=f"'{repeated.replace('*', '[*]')}' is given twice"):
        expand_objectives(patterns, frame().columns)


def test_constant_objective_is_explained_in_one_line():
    df = frame()
    df["sr"] = 0.0
    result = compute_front(df, ["sr", "mcr.left"])
    assert result.hypervolume == 0.0 and result.n_outside_ref == len(result.front_df)
    assert result.warnings == [
        "sr is 0 for all 4 candidates, so it orders none; none is better than the "
        "reference point's 0 in it, so the hypervolume is 0"
    ]
    # constant but inside the reference point: it orders nothing, the volume is not 0
    inside = compute_front(df, ["sr", "mcr.left"], ref_point=[-1.0, 1.0])
    assert inside.warnings == ["sr is 0 for all 4 candidates, so it orders none"]
    assert inside.hypervolume == pytest.approx(1.0 * 0.95)


def test_all_front_points_outside_the_reference_point_are_explained():
    result = compute_front(frame(), ["mcr.left", "mcr.right"], ref_point=[0.01, 0.01])
    assert result.hypervolume == 0.0
    assert result.warnings == [
        "the hypervolume is 0: none of the 3 front points is strictly better than the "
        "reference point in every objective"
    ]
    assert "3 of 3 front points outside it" in result.summary()


def test_compute_front_user_ref_point_and_eps_vector():
    result = compute_front(frame(), ["loss.left", "loss.right"], eps=[0.1, 0.1], ref_point=[1, 1])
    assert result.ref_point == [1.0, 1.0]
    assert result.eps == [0.1, 0.1]
    with pytest.raises(ValueError, match="ref point"):
        compute_front(frame(), ["loss.left", "loss.right"], ref_point=[1.0])
    with pytest.raises(ValueError, match="got nan"):
        compute_front(frame(), ["loss.left", "loss.right"], ref_point=[1.0, float("nan")])


def test_front_json_shape():
    result = compute_front(frame(), ["mcr.left", "mcr.right"], eps=0.0)
    payload = result.to_json_dict()
    text = json.dumps(payload, allow_nan=False)  # no NaN may leak into JSON
    assert json.loads(text) == payload
    assert list(payload) == [
        "objectives",
        "ref_point",
        "eps",
        "hypervolume",
        "n_candidates",
        "points",
        "maximised",
        "ref_point_minimised",
        "n_outside_ref",
    ]
    assert payload["objectives"] == ["mcr.left", "mcr.right"]
    assert payload["eps"] == 0.0
    assert payload["n_candidates"] == 3
    first = payload["points"][0]
    assert set(first) == {
        "trial", "method", "arch", "seed", "split", "ray_index",
        "preference", "values", "sr", "cr", "ps", "minimised", "outside_ref",
    }  # fmt: skip
    assert first["trial"] == "c" * 16 and first["preference"] is None
    assert len(first["values"]) == 2
    assert isinstance(first["seed"], int)


def test_front_json_nan_metrics_become_null():
    df = frame().iloc[[3]].copy()
    payload = compute_front(df, ["loss.left", "loss.right"]).to_json_dict()
    assert payload["points"][0]["cr"] is None
    json.dumps(payload, allow_nan=False)


def test_compute_front_with_no_complete_rows():
    df = frame()
    df["mcr.right"] = np.nan
    result = compute_front(df, ["mcr.left", "mcr.right"])
    assert result.n_candidates == 0 and result.n_dropped_nan == 4
    assert result.hypervolume == 0.0
    assert result.to_json_dict()["points"] == []


def test_front_json_acc_values_in_own_units():
    payload = compute_front(frame(), ["acc.left", "mcr.right"]).to_json_dict()
    assert payload["maximised"] == ["acc.left"]
    assert payload["ref_point"] == [0.0, 1.0] and payload["ref_point_minimised"] == [1.0, 1.0]
    first = payload["points"][0]
    assert first["values"] == [0.95, 0.4]
    assert first["minimised"] == [1 - 0.95, 0.4] and first["outside_ref"] is False
    assert payload["n_outside_ref"] == 0


def test_front_csv_rounds_float64_residue():
    df = frame()
    df["mcr.left"] = 1 - df["acc.left"]  # 0.09999999999999998, 0.19999999999999996, ...
    df.at[0, "preference"] = [0.1 + 0.2, 0.7, 0.0]  # 0.30000000000000004
    text = compute_front(df, ["mcr.left", "loss.right"]).to_csv()
    rows = pd.read_csv(io.StringIO(text), dtype=str).set_index("trial")
    assert rows.loc["a" * 16, "mcr.left"] == "0.1"
    assert json.loads(rows.loc["a" * 16, "preference"]) == [0.3, 0.7, 0.0]
    assert "999999" not in text and "000000" not in text


def test_front_csv_one_row_per_point_with_raw_objective_values():
    result = compute_front(frame(), ["acc.left", "mcr.right"])
    lines = result.to_csv().splitlines()
    header = (
        "trial,method,arch,seed,split,ray_index,preference,acc.left,mcr.right,sr,cr,ps,outside_ref"
    )
    assert lines[0] == header
    assert len(lines) == 1 + len(result.front_df)
    df = pd.read_csv(io.StringIO(result.to_csv()))
    first = df.iloc[0]
    assert first["trial"] == "c" * 16
    assert first["acc.left"] == pytest.approx(0.95)  # accuracy itself, not 1 - acc
    assert pd.isna(first["preference"])
    second = df.iloc[1]
    assert json.loads(second["preference"]) == [0.0, 0.5, 0.5]
