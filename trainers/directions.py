"""Loss weights from gradient geometry: Pareto MTL's two phases and EPO's LP.

Each function takes the task Gram matrix C = G G^T (inner products of the task
gradients, never the gradients themselves), the current losses and a preference, and
returns the weights w of the loss sum_i w_i L_i whose gradient is the method's update
direction. Facts: docs/methods/gradient_combining.md#pareto-mtl (Pareto MTL) and
docs/methods/gradient_combining.md#epo (EPO).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from trainers.min_norm import min_norm_weights


# ----------------------------------------------------------------------------- Pareto MTL


def circle_rays(count: int, start: float = 0.0, end: float = math.pi / 2) -> torch.Tensor:
    """``count`` unit vectors (cos a, sin a), a evenly spaced in [start, end] (PMTL paper)."""
    angles = torch.linspace(start, end, count, dtype=torch.float64)
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def constraint_rows(rays: torch.Tensor, k: int) -> torch.Tensor:
    """Rows (u_j - u_k) of the sub-region constraints G_j = (u_j - u_k) . L <= 0."""
    return rays - rays[k]


def active_set(losses: torch.Tensor, rays: torch.Tensor, k: int) -> torch.Tensor:
    """Indices j with G_j > 0 on the normalised losses (strict, epsilon = 0, as the code)."""
    direction = losses / losses.norm()
    values = constraint_rows(rays, k).to(direction) @ direction
    return torch.nonzero(values > 0).flatten()


def pmtl_phase1_weights(gram: torch.Tensor, losses: torch.Tensor, rays: torch.Tensor,
                        k: int) -> torch.Tensor | None:
    """Weights that move towards sub-region k (may be negative); None once feasible."""
    active = active_set(losses, rays, k)
    if len(active) == 0:
        return None
    rows = constraint_rows(rays, k)[active].to(gram)
    if len(active) == 1:
        return rows[0]
    beta = min_norm_weights(rows @ gram @ rows.T)  # min-norm over the constraint gradients
    return beta @ rows


def pmtl_phase2_weights(gram: torch.Tensor, losses: torch.Tensor, rays: torch.Tensor,
                        k: int) -> torch.Tensor:
    """Dual of the constrained descent QP, as a min-norm problem over task gradients and
    active constraint gradients; weights rescaled so that sum |w_i| = m."""
    m = gram.shape[0]
    active = active_set(losses, rays, k)
    rows = constraint_rows(rays, k)[active].to(gram)
    basis = torch.cat([torch.eye(m, dtype=gram.dtype, device=gram.device), rows])
    c = min_norm_weights(basis @ gram @ basis.T)  # basis rows: vectors in task-gradient space
    weights = c[:m] + c[m:] @ rows
    total = weights.abs().sum()
    # lambda + sum beta (u_j - u_k) = 0: no direction, take no step
    # (docs/methods/gradient_combining.md#min-norm-numerics)
    if not total > 0:
        return torch.zeros_like(weights)
    return m * weights / total


# ----------------------------------------------------------------------------- EPO


def _solve_lp(objective: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray) -> np.ndarray | None:
    """Maximise objective . beta on the simplex subject to a_ub beta <= b_ub."""
    n = len(objective)
    from scipy.optimize import linprog  # lazy: only Pareto MTL and EPO solve LPs

    result = linprog(-objective, A_ub=a_ub if len(b_ub) else None, b_ub=b_ub if len(b_ub) else None,
                     A_eq=np.ones((1, n)), b_eq=[1.0], bounds=[(0, None)] * n, method="highs")
    return result.x if result.success else None


def epo_weights(gram: torch.Tensor, losses: torch.Tensor, ray: torch.Tensor,
                eps: float = 1e-4) -> torch.Tensor:
    """EPO's loss weights (Mahapatra & Rajan): balance r_i L_i while descending.

    Near-zero ray entries are safe: log terms use l-hat clamped at machine epsilon and are
    multiplied by r_i, so they vanish instead of producing NaN (the authors' code NaNs).
    Falls back to the normalised ray when the LP has no solution, or when the losses or
    the Gram matrix are not finite (the training loop then reports the divergence).
    """
    C = gram.detach().double().cpu().numpy()
    L = losses.detach().double().cpu().numpy()
    r = ray.detach().double().cpu().numpy()
    m = len(L)
    if not (np.isfinite(C).all() and np.isfinite(L).all()):
        return torch.as_tensor(r / r.sum() * m, dtype=losses.dtype, device=losses.device)
    rl = r * L
    l_hat = rl / rl.sum()
    log_term = np.log(np.maximum(m * l_hat, np.finfo(float).eps))
    mu = float(np.sum(np.where(l_hat > np.finfo(float).eps, l_hat * log_term, 0.0)))
    ca = C @ (r * (log_term - mu))
    if mu > eps:  # balance mode: move r * L towards equal entries
        unbalanced = ca > 0
        rhs = np.zeros(m) if not unbalanced.any() else np.where(unbalanced, -np.inf, ca)
        rhs[int(np.argmax(rl))] = 0.0
        keep = np.isfinite(rhs)
        beta = _solve_lp(ca, -C[keep], -rhs[keep])
    else:  # descent mode: decrease every loss, keep the balance
        a_ub = np.vstack([-ca[None, :], -C])
        b_ub = np.concatenate([[-min(ca.max(), 0.0)], np.zeros(m)])
        beta = _solve_lp(C.sum(axis=0), a_ub, b_ub)
    if beta is None:
        beta = r / r.sum()
    return torch.as_tensor(beta * m, dtype=losses.dtype, device=losses.device)
