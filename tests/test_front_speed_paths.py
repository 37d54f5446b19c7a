"""The fast paths of analysis.front against brute force: the eps filter (which tests only
points off the front, by a blocked search) on random data in 2, 3 and 4 objectives with
ties, duplicates, large fronts and points just behind them."""

import numpy as np
import pandas as pd
import pytest

from analysis import front
from analysis.front import nondominated


def brute_eps(points: np.ndarray, eps) -> np.ndarray:
    """The eps rule by its definition, all pairs at once: p goes when another q has
    q <= p - eps in every objective and < in one."""
    target = points - np.broadcast_to(np.asarray(eps, dtype=float), points.shape[1:])
    le = (points[None, :, :] <= target[:, None, :]).all(axis=2)
    lt = (points[None, :, :] < target[:, None, :]).any(axis=2)
    beaten = le & lt
    np.fill_diagonal(beaten, False)
    return np.flatnonzero(~beaten.any(axis=1))


def near_front(seed: int, n: int, d: int, grid: int | None) -> np.ndarray:
    """Points on a simplex (all mutually nondominated), copies pushed back by small random
    offsets, exact duplicates; rounded to a grid (``grid`` steps) for ties when given."""
    rng = np.random.default_rng(seed)
    surface = rng.dirichlet(np.ones(d), size=n // 2)
    behind = surface[rng.integers(0, len(surface), n // 3)] + rng.random((n // 3, d)) * 0.2
    points = np.vstack([surface, behind])
    points = np.vstack([points, points[rng.integers(0, len(points), n // 10)]])
    if grid is not None:
        points = np.round(points * grid) / grid
    return rng.permutation(points)


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("grid", [None, 10, 40])
@pytest.mark.parametrize("seed", range(4))
def test_eps_filter_matches_brute_force_near_large_fronts(d, grid, seed):
    points = near_front(seed, 400, d, grid)
    for eps in (0.0, 0.025, 0.1, [0.05, 0.0, 0.1, 0.02][:d]):
        np.testing.assert_array_equal(nondominated(points, eps), brute_eps(points, eps))


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
def test_eps_filter_matches_brute_force_on_uniform_ties(d, seed):
    rng = np.random.default_rng(50 + seed)
    points = rng.integers(0, 4, size=(300, d)).astype(float)
    for eps in (0.0, 1.0, 2.0, [1.0] + [0.0] * (d - 1)):
        np.testing.assert_array_equal(nondominated(points, eps), brute_eps(points, eps))


@pytest.mark.parametrize("n_front", [1, 2, 3, 7, 8, 9, 64, 65, 200])
def test_blocked_search_is_weak_dominance(n_front):
    # every front size (padding to a power of two) and targets on, between and off the rows
    rng = np.random.default_rng(n_front)
    rows = np.round(rng.random((n_front, 3)) * 8) / 8
    targets = np.vstack([rows, np.round(rng.random((300, 3)) * 8) / 8, rows - 1 / 16])
    expected = (rows[None, :, :] <= targets[:, None, :]).all(axis=2).any(axis=1)
    np.testing.assert_array_equal(front._weakly_dominated_3d(rows, targets), expected)


def test_front_points_are_never_tested():
    # all points on the front: nothing off it, so nothing is compared and all survive
    points = np.random.default_rng(3).dirichlet(np.ones(3), size=2000)
    assert len(nondominated(points, 0.01)) == 2000


def many_points_store(url: str, n_trials: int = 3, per_trial: int = 40) -> None:
    """A store (through the store API) whose test points all lie on one front, with the
    model-level metrics every real point has, an extra metric and a val split."""
    from store.db import open_store

    rng = np.random.default_rng(11)
    db = open_store(url, create=True)
    db.register_sweep("s", "name: s", {"name": "s"}, {})
    trials = [{"key": f"{i:016x}", "dataset": {"name": "multidigits", "options": {}},
               "arch": {"name": "hps", "options": {}}, "method": {"name": "phn_ls", "params": {}},
               "preference": None, "seed": i, "train": {}} for i in range(n_trials)]
    db.add_trials("s", trials)
    for i, trial in enumerate(trials):
        points = []
        for split in ("test", "val"):
            for k, left in enumerate(rng.permutation(np.linspace(0.5, 0.99, per_trial)) + i * 1e-4):
                right = 1.49 - left  # all on the front
                points.append({"split": split, "ray_index": k, "preference": [float(left), 1 - float(left)],
                               "tasks": {"left": {"loss": 1 - left, "acc": float(left)},
                                         "right": {"loss": 1 - right, "acc": float(right)}},
                               "sparsity": 0.5, "n_params": 10 + k,
                               "metrics": {"sr": 0.1 * k, "cr": 1.0 + k, "ps": 0.5, "flops": 7.0}})
        db.record_result(trial["key"], {"points": points, "time_train_s": 1.0})
    db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.db'}"
    return request.getfixturevalue("pg_url")


def test_load_points_with_chosen_metrics_is_the_full_load_restricted(store_url):
    from store.db import open_store
    from store.queries import PointFilter, load_points, point_details

    url = store_url
    many_points_store(url)
    db = open_store(url, create=False, read_only=True)
    full = load_points(db, PointFilter(dataset="multidigits"))
    chosen = load_points(db, PointFilter(dataset="multidigits"), metrics=["cr", "flops"])
    assert "flops" in full and "n_params" in full and "n_params" not in chosen and "sr" not in chosen
    assert len(full) == 120 and full["split"].eq("test").all()
    pd_cols = [c for c in full.columns if c in chosen.columns]
    assert list(chosen.columns) == pd_cols
    pd.testing.assert_frame_equal(chosen, full[pd_cols])
    # without details, then the details of some rows: the same values
    bare = load_points(db, PointFilter(dataset="multidigits"), metrics=[], details=False)
    assert not {"split", "ray_index", "preference", "sr"} & set(bare.columns)
    pd.testing.assert_frame_equal(bare, full[[c for c in full.columns if c in bare.columns]])
    some = full.iloc[[5, 0, 77]]
    details = point_details(db, some["point_id"], ["sr", "n_params", "flops"])
    expected = some.set_index("point_id")[["ray_index", "split", "preference", "sr", "n_params", "flops"]]
    pd.testing.assert_frame_equal(details.loc[some["point_id"]], expected)


def test_front_cli_shows_the_first_rows_and_prints_every_row_as_before(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from analysis.front import compute_front
    from orchestrator.cli import app
    from store.db import open_store
    from store.queries import PointFilter, load_points

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 's.db'}"
    many_points_store(url)
    full = load_points(open_store(url, create=False, read_only=True), PointFilter(dataset="multidigits"))
    expected = compute_front(full, ["mcr.left", "mcr.right"])
    assert expected.n_front == 120

    def front(*args):
        result = CliRunner().invoke(app, ["front", "--dataset", "multidigits", "--store", url, *args])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    table = front()
    assert "front: 120 of 120 points (eps 0), first 50 shown (--rows 0 for all)" in table
    shown = [line for line in table.splitlines() if line.startswith("│ 0000")]
    assert len(shown) == 50
    assert [line.split("│")[1].strip() for line in shown] == expected.front_df["trial"][:50].tolist()
    assert front("--format", "csv") == expected.to_csv()
    document = json.loads(front("--format", "json"))
    assert document == json.loads(json.dumps(__import__("analysis.format").format.plain(expected.to_json_dict())))
    assert len(document["points"]) == 120 and document["points"][0]["sr"] is not None
    # a point-level objective is loaded although the default front does not read it
    with_metric = json.loads(front("--format", "json", "--objectives", "mcr.left,n_*"))
    assert with_metric["objectives"] == ["mcr.left", "n_params"]
    assert with_metric["points"][0]["values"][1] >= 10
