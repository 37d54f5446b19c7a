"""The fast paths of analysis.front against brute force: the eps filter (which tests only
points off the front, by a blocked search) on random data in 2, 3 and 4 objectives with
ties, duplicates, large fronts and points just behind them."""

import numpy as np
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
