"""``wc_al``: the MDMTN paper's modified Weighted Chebyshev problem, solved by an
Augmented Lagrangian (reference/mdmtn.md section 3).

Objectives L = (L0, L1, ..., Lm): L0 the GrOWL sparsity value, L1..Lm the task losses;
preference k = (k0, ..., km), reference point a, small epsilon. The modified WC problem

    minimise t  over (x, t)   subject to   H_i(x, t) <= 0,  i = 0..m,
    H_i(x, t) = k_i (L_i - a_i) - t + k_i * epsilon * sum_j (L_j - a_j)

puts the Chebyshev max into the constraints, so every Pareto point (concave parts of the
front included) is reachable, and the epsilon term makes the solutions properly
(not just weakly) Pareto optimal.

It is solved with the Powell-Hestenes-Rockafellar augmented Lagrangian for *inequality*
constraints (the paper's method; the authors' code uses the equality form and in effect
trains a weighted sum, section 3.5 — the paper wins). Per mini-batch we minimise over
(x, t)

    L_A = t + 1/(2 mu) * sum_i ( max(0, lambda_i + mu H_i)^2 - lambda_i^2 ),

which equals t + lambda^T H + mu/2 ||H||^2 on the active constraints (the paper's loss)
and leaves inactive ones (lambda_i + mu H_i < 0) out of the gradient. After each
iteration (``epochs_per_iteration`` epochs) the multipliers and the penalty move by the
standard rule

    lambda_i <- max(0, lambda_i + mu * Hbar_i),      mu <- rho * mu   (rho = 2: doubling),

with Hbar the mean of the per-batch constraint values over the iteration's last epoch
(our estimate of H at the iterate). lambda starts at 1/(m+1) each, t at N(0, 1) as in
the paper. The GrOWL value L0 keeps its gradient (it is not detached).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.methods import METHODS
from trainers.methods.base import Method


@METHODS.register("wc_al")
class WeightedChebyshevAL(Method):
    name = "wc_al"
    description = "modified weighted Chebyshev + augmented Lagrangian (MDMTN paper)"
    train_defaults: dict[str, Any] = {"epochs_per_iteration": 3}  # p = 3 (paper)
    default_params: dict[str, Any] = {
        "mu0": 0.5,          # initial penalty; the paper's MultiMNIST value is 2.5e-8
        "rho": 2.0,          # penalty growth per iteration
        "mu_max": 1.0e4,     # cap that keeps the penalty finite in long runs
        "eps": 1.0e-4,       # epsilon of the modified WC constraint
        "ref_point": None,   # a; None = the origin (paper)
        "lambda0": None,     # None = 1/(m+1) for every constraint (paper)
        "t_init": "normal",  # "normal" = N(0,1) (paper), or a number
    }

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        n_obj = n_tasks + 1
        self.a = self._vector(params["ref_point"], n_obj, 0.0, "ref_point")
        self.lam = self._vector(params["lambda0"], n_obj, 1.0 / n_obj, "lambda0")
        self.mu = float(params["mu0"])
        t0 = torch.randn(()) if params["t_init"] == "normal" else torch.tensor(float(params["t_init"]))
        self.t = nn.Parameter(t0)
        self._h_sum = torch.zeros(n_obj)
        self._h_batches = 0
        self.iterations = 0

    @staticmethod
    def _vector(value, n: int, fill: float, what: str) -> torch.Tensor:
        if value is None:
            return torch.full((n,), fill)
        vec = torch.tensor([float(v) for v in value])
        if vec.shape != (n,):
            raise ValueError(f"{what} needs {n} entries (k0 + tasks), got {len(vec)}")
        return vec

    def to(self, device: torch.device) -> "WeightedChebyshevAL":
        super().to(device)
        self.a, self.lam = self.a.to(device), self.lam.to(device)
        self._h_sum = self._h_sum.to(device)
        self.t.data = self.t.data.to(device)
        return self

    def extra_parameters(self) -> list[nn.Parameter]:
        return [self.t]

    def constraints(self, objectives: torch.Tensor) -> torch.Tensor:
        """H(x, t) of the modified WC problem, one entry per objective."""
        gap = objectives - self.a
        return self.k * gap - self.t + self.k * self.params["eps"] * gap.sum()

    def scalarize(self, objectives: torch.Tensor) -> torch.Tensor:
        h = self.constraints(objectives)
        self._h_sum += h.detach()
        self._h_batches += 1
        shifted = torch.clamp(self.lam + self.mu * h, min=0.0)
        return self.t + (shifted.square() - self.lam.square()).sum() / (2.0 * self.mu)

    def begin_epoch(self) -> None:
        self._h_sum.zero_()
        self._h_batches = 0

    def end_iteration(self) -> None:
        """Multiplier step lambda <- max(0, lambda + mu Hbar); then mu <- rho mu."""
        if self._h_batches:
            h_bar = self._h_sum / self._h_batches
            self.lam = torch.clamp(self.lam + self.mu * h_bar, min=0.0)
        self.mu = min(self.mu * float(self.params["rho"]), float(self.params["mu_max"]))
        self.iterations += 1

    def state(self) -> dict[str, Any]:
        return {"t": float(self.t.detach()), "lambda": self.lam.tolist(), "mu": self.mu,
                "iterations": self.iterations}
