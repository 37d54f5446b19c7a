"""The min-norm solver against closed forms, a generic QP and the optimality condition."""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from trainers.min_norm import line_search, min_norm_weights


def gram_of(vectors):
    v = torch.tensor(vectors, dtype=torch.float64)
    return v @ v.T


def test_two_vectors_closed_form():
    # u = (1, 0), w = (0, 2): min ||g u + (1-g) w||^2 = g^2 + 4 (1-g)^2 -> g = 4/5
    c = min_norm_weights(gram_of([[1, 0], [0, 2]]))
    assert c.tolist() == pytest.approx([0.8, 0.2])


def test_two_vectors_where_one_end_is_optimal():
    # w lies beyond u along the same line: the optimum is u alone, weight exactly 1
    c = min_norm_weights(gram_of([[1, 0], [3, 0]]))
    assert c.tolist() == [1.0, 0.0]
    clipped = min_norm_weights(gram_of([[1, 0], [3, 0]]), clip=0.001)  # the authors' code
    assert clipped.tolist() == pytest.approx([0.999, 0.001])


def test_line_search_is_the_exact_minimiser():
    a, b, d = torch.tensor(2.0), torch.tensor(-1.0), torch.tensor(3.0)
    gamma = float(line_search(a, b, d))
    grid = np.linspace(0, 1, 100001)
    costs = grid ** 2 * 2 + 2 * grid * (1 - grid) * -1 + (1 - grid) ** 2 * 3
    assert gamma == pytest.approx(grid[np.argmin(costs)], abs=1e-4)


def qp_reference(gram: np.ndarray) -> np.ndarray:
    n = gram.shape[0]
    result = minimize(lambda c: c @ gram @ c, np.full(n, 1 / n), jac=lambda c: 2 * gram @ c,
                      bounds=[(0, 1)] * n, constraints=[{"type": "eq", "fun": lambda c: c.sum() - 1}],
                      method="SLSQP", options={"ftol": 1e-14, "maxiter": 1000})
    return result.x


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n, dim", [(3, 5), (4, 3), (6, 20)])
def test_many_vectors_match_a_generic_qp(seed, n, dim):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)) + rng.normal(size=dim)  # correlated, like gradients
    gram = vectors @ vectors.T
    c = min_norm_weights(torch.tensor(gram), max_iter=5000, tol=1e-12).numpy()
    assert c.min() >= 0 and c.sum() == pytest.approx(1)
    reference = qp_reference(gram)
    assert c @ gram @ c == pytest.approx(reference @ gram @ reference, rel=1e-4, abs=1e-9)
    # optimality: every v_i has <v_i, w> >= ||w||^2 at the min-norm point w
    w = c @ vectors
    assert (vectors @ w >= w @ w - 1e-4 * max(1.0, w @ w)).all()


def test_zero_is_in_the_hull():
    # opposite gradients: a Pareto-stationary point, the min norm is 0
    c = min_norm_weights(gram_of([[1, 1], [-1, -1], [0, 1]]), max_iter=2000, tol=1e-12)
    w = c @ torch.tensor([[1.0, 1.0], [-1.0, -1.0], [0.0, 1.0]], dtype=torch.float64)
    assert float(w.norm()) < 1e-3
