"""The GrOWL proximal step (docs/methods/wc_al.md#growl-proximal-step and #per-layer-cap):
exact OWL prox against a convex solver, the spike weights, exact zeros, ordering, the cap,
and pruned rows held at zero."""
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from trainers.growl import (ZeroRows, apply_cap, growl_prox_, growl_prox_rows,
                            growl_thresholds, max_zero_rows, owl_prox)
from trainers.sparsity import growl_layer, row_view


def owl_prox_by_solver(v, w):
    """min_x 1/2 ||x - v||^2 + sum_i w_i |x|_[i] as a smooth QP: u >= |x| and, for every
    permutation pi, s >= sum_i w_pi(i) u_i (the OWL norm is the max over permutations)."""
    n = len(v)
    perms = list(itertools.permutations(range(n)))

    def objective(z):
        x, s = z[:n], z[2 * n]
        return 0.5 * np.sum((x - v) ** 2) + s

    cons = [{"type": "ineq", "fun": lambda z, i=i: z[n + i] - z[i]} for i in range(n)]
    cons += [{"type": "ineq", "fun": lambda z, i=i: z[n + i] + z[i]} for i in range(n)]
    for pi in perms:
        weights = np.array([w[j] for j in pi])
        cons.append({"type": "ineq", "fun": lambda z, wt=weights: z[2 * n] - wt @ z[n:2 * n]})
    z0 = np.concatenate([v, np.abs(v), [np.sum(w) * np.abs(v).max()]])
    res = minimize(objective, z0, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-12, "maxiter": 1000})
    # status 8 = SLSQP's line search stalled at the optimum's tolerance; x is still there
    assert res.status in (0, 8), res.message
    return res.x[:n]


@pytest.mark.parametrize("seed", range(12))
def test_owl_prox_matches_a_convex_solver(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5))
    v = rng.normal(scale=1.5, size=n)
    w = np.sort(rng.uniform(0, 1.2, size=n))[::-1]
    got = owl_prox(torch.tensor(v), torch.tensor(w.copy())).numpy()
    np.testing.assert_allclose(got, owl_prox_by_solver(v, w), atol=1e-5)
    # and it is the minimiser: nothing nearby has a lower prox objective
    def value(x):
        return 0.5 * np.sum((x - v) ** 2) + np.sort(np.abs(x))[::-1] @ w
    for _ in range(200):
        assert value(got + rng.normal(scale=1e-3, size=n)) >= value(got) - 1e-12


def test_spike_weights_soft_threshold_separated_norms():
    # well-separated norms: the largest shrinks by tau (beta1 + beta2), the others by tau beta2
    r = torch.tensor([5.0, 1.0, 3.0, 0.1])
    out = owl_prox(r, growl_thresholds(4, 1.0, 0.8, 0.2))
    assert out.tolist() == pytest.approx([4.0, 0.8, 2.8, 0.0])
    # tau scales the thresholds
    half = owl_prox(r, growl_thresholds(4, 0.5, 0.8, 0.2))
    assert half.tolist() == pytest.approx([4.5, 0.9, 2.9, 0.0])


def test_close_norms_are_pooled_not_the_largest_zeroed():
    # r = (1.0, 0.9, 0.1): z = (0, 0.7, -0.1) violates the order; PAV pools the top two to
    # 0.35 each. (The authors' approximate pooling zeroes the largest row here, 4.4.)
    out = owl_prox(torch.tensor([1.0, 0.9, 0.1]), growl_thresholds(3, 1.0, 0.8, 0.2))
    assert out.tolist() == pytest.approx([0.35, 0.35, 0.0])


def test_prox_preserves_order_and_never_grows_a_norm():
    torch.manual_seed(0)
    r = torch.rand(200) * 3
    out = owl_prox(r, growl_thresholds(200, 0.7, 0.8, 0.2))
    order = torch.argsort(r, descending=True)
    assert (out[order][:-1] >= out[order][1:] - 1e-12).all()   # same order (ties allowed)
    assert (out <= r + 1e-12).all() and (out >= 0).all()


def matrix_objective(rows, v, thresholds):
    return 0.5 * float(((rows - v) ** 2).sum()) + float(
        (torch.sort(rows.norm(dim=1), descending=True).values * thresholds).sum())


@pytest.mark.parametrize("seed", range(5))
def test_growl_prox_of_a_matrix_is_its_minimiser(seed):
    # the prox minimises 1/2 ||W - V||^2 + sum theta_i tau ||w||_[i]; no perturbation
    # (including ones that revive a zeroed row) may lower that convex objective
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(6, 3, generator=g, dtype=torch.float64) * 0.6
    v[:2] *= 0.1     # two small rows, which the prox prunes
    thresholds = growl_thresholds(6, 0.8, 0.8, 0.2).double()
    w = growl_prox_rows(v, thresholds)
    best = matrix_objective(w, v, thresholds)
    for _ in range(300):
        step = torch.randn(6, 3, generator=g, dtype=torch.float64) * 1e-3
        assert matrix_objective(w + step, v, thresholds) >= best - 1e-12
    assert (~w.any(dim=1)).sum() >= 1  # this scale prunes at least one row


def test_rows_keep_their_direction_and_zeros_are_exact():
    v = torch.tensor([[3.0, 4.0], [0.06, 0.08], [-6.0, 8.0]])
    out = growl_prox_rows(v, growl_thresholds(3, 1.0, 0.8, 0.2))
    assert torch.equal(out[1], torch.zeros(2)) and not torch.signbit(out[1]).any()
    assert out[0].tolist() == pytest.approx([3 * 4.8 / 5, 4 * 4.8 / 5])
    assert out[2].tolist() == pytest.approx([-6 * 9.0 / 10, 8 * 9.0 / 10])


def test_growl_prox_on_conv_acts_on_input_channels():
    w = torch.zeros(4, 3, 2, 2)
    w[:, 0] = 1.0      # channel 0: norm 4
    w[:, 1] = 0.05     # channel 1: norm 0.2 -> pruned by tau beta2 = 0.2
    w[:, 2] = 0.5      # channel 2: norm 2
    report = growl_prox_(w, 1.0, 0.8, 0.2)
    assert (report.rows, report.zero_before, report.zero_after) == (3, 0, 1)
    assert torch.equal(w[:, 1], torch.zeros(4, 2, 2))
    assert row_view(w).norm(dim=1).tolist() == pytest.approx([3.0, 0.0, 1.8])


def test_prox_lowers_the_growl_value():
    torch.manual_seed(1)
    w = torch.randn(20, 30)
    before = float(growl_layer(w, 0.8, 0.2))
    growl_prox_(w, 0.5, 0.8, 0.2)
    assert float(growl_layer(w, 0.8, 0.2)) < before


def test_cap_keeps_the_smallest_norms_pruned_and_restores_the_rest():
    old = torch.tensor([[0.1], [0.3], [0.2], [0.05], [2.0]])
    new = growl_prox_rows(old, growl_thresholds(5, 1.0, 0.8, 0.2))
    assert int((~new.any(dim=1)).sum()) == 3           # 0.1, 0.2, 0.05 fall under 0.2
    capped = apply_cap(new, old, 0.4)                  # at most floor(0.4 * 5) = 2 zeros
    zero = (~capped.any(dim=1)).nonzero().squeeze(1).tolist()
    assert zero == [0, 3]                              # the two smallest pre-prox norms
    assert torch.equal(capped[2], old[2])              # restored to its pre-prox value
    assert torch.equal(capped[[1, 4]], new[[1, 4]])    # survivors keep their prox value


def test_cap_counts_rows_that_were_already_zero():
    old = torch.tensor([[0.0], [0.0], [0.15], [0.1], [3.0]])
    capped = apply_cap(growl_prox_rows(old, growl_thresholds(5, 1.0, 0.8, 0.2)), old, 0.6)
    assert (~capped.any(dim=1)).nonzero().squeeze(1).tolist() == [0, 1, 3]
    assert torch.equal(capped[2], old[2])


def test_cap_rounding():
    assert max_zero_rows(10, 0.3) == 3 and max_zero_rows(7, 0.8) == 5
    assert max_zero_rows(3, 0.267) == 0


def test_growl_prox_with_cap_in_place():
    w = torch.tensor([[0.1, 0.3, 0.2, 0.05, 2.0]])     # linear (out=1, in=5): 5 rows
    report = growl_prox_(w, 1.0, 0.8, 0.2, cap=0.4)
    assert report.zero_after == 2
    assert w[0, 2] == pytest.approx(0.2)


def test_zero_rows_are_held_at_exact_zero():
    lin = torch.nn.Linear(4, 3)
    conv = torch.nn.Conv2d(3, 2, 2)
    with torch.no_grad():
        lin.weight[:, 1] = 0.0
        conv.weight[:, 2] = 0.0
    held = ZeroRows([("lin", lin.weight), ("conv", conv.weight)])
    assert held.count == 2 and held.indices("lin").tolist() == [1]
    with torch.no_grad():
        lin.weight.sub_(1.0)
        conv.weight.sub_(1.0)
    held.hold()
    assert torch.equal(lin.weight[:, 1], torch.zeros(3))
    assert not torch.signbit(lin.weight[:, 1]).any()     # +0.0, not -0.0
    assert torch.equal(conv.weight[:, 2], torch.zeros(2, 2, 2))
    assert (lin.weight[:, 0] != 0).all() and (conv.weight[:, 0] != 0).all()
