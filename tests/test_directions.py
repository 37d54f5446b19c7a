"""Pareto MTL's and EPO's loss weights: the geometric properties each must have."""
import math

import numpy as np
import pytest
import torch

from trainers.directions import (active_set, circle_rays, epo_weights, pmtl_phase1_weights,
                                 pmtl_phase2_weights)


def test_circle_rays_are_the_papers_unit_vectors():
    rays = circle_rays(5)
    expected = [(1, 0), (0.924, 0.383), (0.707, 0.707), (0.383, 0.924), (0, 1)]
    assert rays.numpy() == pytest.approx(np.array(expected), abs=1e-3)
    assert rays.norm(dim=1).numpy() == pytest.approx(np.ones(5))


def test_active_set_is_strict_and_never_contains_k():
    rays = circle_rays(5)
    # losses exactly along ray 2: no constraint of region 2 is violated
    assert len(active_set(rays[2] * 3.0, rays, 2)) == 0
    # task-1 loss dominates: region of ray 4 = (0, 1) is violated by every other ray
    assert active_set(torch.tensor([1.0, 0.01], dtype=torch.float64), rays, 4).tolist() == [0, 1, 2, 3]


def random_problem(seed, m=2, dim=30):
    gen = torch.Generator().manual_seed(seed)
    grads = torch.randn(m, dim, generator=gen, dtype=torch.float64) + 0.5
    losses = torch.rand(m, generator=gen, dtype=torch.float64) + 0.1
    return grads, grads @ grads.T, losses


@pytest.mark.parametrize("seed", range(10))
def test_phase1_direction_reduces_every_active_constraint(seed):
    grads, gram, _ = random_problem(seed)
    rays = circle_rays(5)
    losses = torch.tensor([1.0, 0.05], dtype=torch.float64)  # far from region 4
    weights = pmtl_phase1_weights(gram, losses, rays, 4)
    direction = weights @ grads  # the gradient of w . L; a step goes along -direction
    for j in active_set(losses, rays, 4).tolist():
        constraint_grad = (rays[j] - rays[4]) @ grads
        assert constraint_grad @ direction > 0  # so G_j decreases to first order


def test_phase1_is_done_when_feasible():
    rays = circle_rays(5)
    _, gram, _ = random_problem(0)
    assert pmtl_phase1_weights(gram, rays[1] * 2.0, rays, 1) is None


@pytest.mark.parametrize("seed", range(10))
def test_phase2_direction_descends_all_tasks_and_active_constraints(seed):
    grads, gram, losses = random_problem(seed)
    rays = circle_rays(5)
    for k in range(5):
        weights = pmtl_phase2_weights(gram, losses, rays, k)
        assert float(weights.abs().sum()) == pytest.approx(2.0)
        direction = weights @ grads
        for j in active_set(losses, rays, k).tolist():
            assert ((rays[j] - rays[k]) @ grads) @ direction >= -1e-9
        if len(active_set(losses, rays, k)) == 0:  # plain MGDA: a common descent direction
            assert (grads @ direction >= -1e-9).all()


def test_epo_balance_mode_does_not_raise_the_worst_weighted_loss():
    for seed in range(10):
        grads, gram, _ = random_problem(seed)
        losses = torch.tensor([2.0, 0.5], dtype=torch.float64)
        ray = torch.tensor([0.5, 0.5], dtype=torch.float64)  # r*L = (1, 0.25): unbalanced
        beta = epo_weights(gram, losses, ray)
        assert float(beta.sum()) == pytest.approx(2.0)
        change = -(gram @ beta)  # first-order change of each loss along the step
        assert change[0] <= 1e-9


def test_epo_descent_mode_decreases_every_loss():
    for seed in range(10):
        grads, gram, _ = random_problem(seed)
        ray = torch.tensor([0.25, 0.75], dtype=torch.float64)
        losses = 1.0 / ray  # r * L balanced exactly
        beta = epo_weights(gram, losses, ray)
        assert (-(gram @ beta) <= 1e-9).all()


def test_epo_survives_near_zero_ray_entries():
    _, gram, losses = random_problem(3)
    for ray in ([1e-12, 1.0], [0.0, 1.0], [1.0, 1e-30]):
        beta = epo_weights(gram, losses, torch.tensor(ray, dtype=torch.float64))
        assert torch.isfinite(beta).all()


def test_epo_reaches_the_exact_pareto_point_of_its_ray():
    # L1 = |x - a|^2, L2 = |x - b|^2 in the plane: the front is the segment [a, b]
    a, b = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([-1.0, 0.0], dtype=torch.float64)
    ray = torch.tensor([0.3, 0.7], dtype=torch.float64)
    x = torch.tensor([0.2, 1.5], dtype=torch.float64)
    for _ in range(600):
        grads = torch.stack([2 * (x - a), 2 * (x - b)])
        losses = torch.stack([((x - a) ** 2).sum(), ((x - b) ** 2).sum()])
        beta = epo_weights(grads @ grads.T, losses, ray)
        x = x - 0.02 * (beta @ grads)
    losses = torch.stack([((x - a) ** 2).sum(), ((x - b) ** 2).sum()])
    assert abs(float(x[1])) < 1e-2  # on the front
    assert float(ray[0] * losses[0]) == pytest.approx(float(ray[1] * losses[1]), rel=0.05)
    # r1 L1 = r2 L2 on the segment: 0.3 (1 - s)^2 = 0.7 (1 + s)^2
    s = (math.sqrt(0.3) - math.sqrt(0.7)) / (math.sqrt(0.3) + math.sqrt(0.7))
    assert float(x[0]) == pytest.approx(s, abs=0.02)
