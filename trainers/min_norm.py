"""The min-norm element of the convex hull of vectors (MGDA's subproblem).

Given v_1..v_n, find c on the simplex minimising ||sum_i c_i v_i||^2. Everything works on
the Gram matrix M_ij = <v_i, v_j>, so callers pass gradients' inner products, not the
gradients. Sener & Koltun (2018), section 3.1
(docs/methods/gradient_combining.md#min-norm-solver): an exact closed form for two vectors,
Frank-Wolfe with exact line search for more. The authors' code clips the two-vector weight
to [0.001, 0.999] so no task ever gets weight 0; the paper's solution is the exact one,
used here (``clip`` reproduces the code when wanted). The iteration cap is enforced (the
code's projected-gradient variant never counts its iterations).
"""
from __future__ import annotations

import torch


def line_search(a: torch.Tensor, b: torch.Tensor, d: torch.Tensor,
                clip: float = 0.0) -> torch.Tensor:
    """Weight gamma on u minimising ||gamma u + (1 - gamma) w||^2 for a = <u,u>,
    b = <u,w>, d = <w,w>; gamma in [clip, 1 - clip]."""
    if b >= a:
        return torch.as_tensor(1.0 - clip, dtype=a.dtype)
    if b >= d:
        return torch.as_tensor(clip, dtype=a.dtype)
    gamma = (d - b) / (a + d - 2 * b)
    return gamma.clamp(clip, 1.0 - clip)


def best_pair(gram: torch.Tensor) -> torch.Tensor:
    """Simplex weights of the best two-vector solution (Frank-Wolfe's starting point)."""
    n = gram.shape[0]
    best_cost, best = None, None
    for i in range(n):
        for j in range(i + 1, n):
            gamma = line_search(gram[i, i], gram[i, j], gram[j, j])
            cost = gamma ** 2 * gram[i, i] + 2 * gamma * (1 - gamma) * gram[i, j] \
                + (1 - gamma) ** 2 * gram[j, j]
            if best_cost is None or cost < best_cost:
                best_cost = cost
                best = torch.zeros(n, dtype=gram.dtype, device=gram.device)
                best[i], best[j] = gamma, 1 - gamma
    return best


def min_norm_weights(gram: torch.Tensor, max_iter: int = 250, tol: float = 1e-6,
                     clip: float = 0.0) -> torch.Tensor:
    """Simplex weights c minimising c^T M c, for a symmetric PSD Gram matrix M."""
    gram = gram.to(torch.float64)
    n = gram.shape[0]
    if n == 1:
        return torch.ones(1, dtype=gram.dtype, device=gram.device)
    if n == 2:
        gamma = line_search(gram[0, 0], gram[0, 1], gram[1, 1], clip)
        return torch.stack([gamma, 1 - gamma]).to(gram)
    c = best_pair(gram)
    for _ in range(max_iter):
        grad = gram @ c
        t = int(torch.argmin(grad))
        # line search between the current point u = sum c_i v_i and the vertex w = v_t
        gamma = line_search(c @ grad, grad[t], gram[t, t])
        new = gamma * c
        new[t] += 1 - gamma
        if torch.sum(torch.abs(new - c)) < tol:
            return new
        c = new
    return c
