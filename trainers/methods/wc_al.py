"""``wc_al``: the MDMTN paper's modified Weighted Chebyshev problem, solved by an
Augmented Lagrangian (Hotegni et al. (2024); docs/methods/wc_al.md).

Objectives L = (L0, L1, ..., Lm): L0 the GrOWL sparsity value, L1..Lm the task losses;
preference k = (k0, ..., km), reference point a, small epsilon. The modified WC problem

    minimise t  over (x, t)   subject to   H_i(x, t) <= 0,  i = 0..m,
    H_i(x, t) = k_i (L_i - a_i) - t + k_i * epsilon * sum_j (L_j - a_j)

puts the Chebyshev max into the constraints, so every Pareto point (concave parts of the
front included) is reachable, and the epsilon term makes the solutions properly
(not just weakly) Pareto optimal.

It is solved with the Powell-Hestenes-Rockafellar augmented Lagrangian for *inequality*
constraints (the paper's method; the authors' code uses the equality form and in effect
trains a weighted sum, docs/methods/wc_al.md#weighted-sum-in-effect — the paper wins). Per
mini-batch we minimise over (x, t)

    L_A = t + 1/(2 mu) * sum_i ( max(0, lambda_i + mu H_i)^2 - lambda_i^2 ),

which equals t + lambda^T H + mu/2 ||H||^2 on the active constraints (the paper's loss)
and leaves inactive ones (lambda_i + mu H_i < 0) out of the gradient. After each
iteration (``epochs_per_iteration`` epochs) the multipliers and the penalty move by the
standard rule

    lambda_i <- max(0, lambda_i + mu * Hbar_i),      mu <- rho * mu   (rho = 2: doubling),

with Hbar the mean of the per-batch constraint values over the iteration's last epoch (our
estimate of H at the iterate; the authors' code sums the batch values of the best
validation epoch so far, docs/methods/wc_al.md#multiplier-and-penalty-updates). lambda
starts at 1/(m+1) each, and t is optimised for every architecture (the code leaves HPS's t
at its initial value, docs/methods/wc_al.md#t-for-every-architecture).

t starts at 0 by default (``t_init``). The authors' code draws t from N(0, 1) (the paper
does not say); on the paper's data sets the presets keep that draw, since with the
paper's tiny mu0 the multipliers hardly move and the start of t does not matter. With a
penalty that matters (our default mu0 = 0.5) a draw above the weighted losses leaves
every constraint slack: the first multiplier update sets lambda to 0, and t, moved by
the optimiser at about one learning rate per step, lags the falling losses, so the
network trains on the penalty alone (measured on the quickstart, seed 0: t0 = 1.54 gives
75 / 82 % test accuracy at k = (0, 0.5, 0.5), t0 = 0 gives 93 / 93 %; starting t at the
first batch's Chebyshev value fails the same way). With the reference point a a utopia
point (default: the origin, losses >= 0) every Pareto optimum has t* >= 0, so t = 0 starts
at a lower bound: the constraints start active and t rises to meet them. The GrOWL value L0 keeps its gradient (it is not detached).
lambda and mu restart at their initial values when a schedule starts a new phase.

With k0 = 0 a trial is one stage of ``train.epochs`` epochs. With k0 > 0 it is the
paper's two-phase schedule (trainers/methods/two_phase.py): phase 1 of M1 =
``phase1_iterations`` iterations with the GrOWL prox and per-layer caps, Affinity
Propagation, phase 2 of M2 = ``phase2_iterations`` iterations of tied retraining
(``train.epochs`` is then unused; each iteration is ``epochs_per_iteration`` epochs).

LSUV (trainers/lsuv.py) initialises the network before training. The paper says LSUV is
used "for all experiments"; the authors' code applies it only to phase 1 of k0 > 0 runs
(docs/methods/wc_al.md#lsuv-initialisation). ``lsuv: always`` (default) follows the paper,
``lsuv: sparse`` the code, ``lsuv: never`` keeps PyTorch's default initialisation. Phase 2
never re-initialises: it retrains the phase-1 network.

Presets (trainers/presets.py, docs/methods/wc_al.md#presets): lr 2.5e-3 x0.5 per iteration
and mu0 2.5e-8 on MultiMNIST (and, with no paper values of their own, the 36x36 overlays
multifashion, multimnist36 and multifashion_mnist), lr 1e-4 x0.98 and mu0 6.8e-8 on
Cifar10Mnist; p = 3, M1 = 3, M2 = 10, 36 epochs for k0 = 0, batch 256; AP preference 0.7 /
0.8; s_min / s_lmax 0.20 / 0.8 (MDMTN) and 0.10 / 0.8 (HPS) on MultiMNIST, 0.10 / 0.3 and
0.05 / 0.15 on Cifar10Mnist. ``synthetic_concave`` (our choice, no paper values): step 0.1
for 300 full-batch steps, p = 10, mu0 1 growing by 1.5 up to 20, which puts a preference
grid on the true front; the problem's own step 1 with mu doubling to 1e4 ends at (1, 1). A
sweep overrides any of them under ``params`` or ``train``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from trainers import loop
from trainers.lsuv import lsuv_
from trainers.methods import METHODS
from trainers.methods.base import SPARSITY_TABLE, ScalarisingMethod
from trainers.methods.params import Param, integer, real, word
from trainers.methods.two_phase import PROX_STEPS, fit_two_phase

@dataclass
class ALState:
    """What one WC-AL step reads besides the objectives: t (optimised with the weights),
    the multipliers lambda and the penalty mu. Each may carry a leading member dimension
    (trainers/packing/ trains many preferences at once)."""

    t: torch.Tensor
    lam: torch.Tensor
    mu: torch.Tensor | float


def wc_constraints(objectives: torch.Tensor, k: torch.Tensor, a: torch.Tensor, eps: float,
                   t: torch.Tensor) -> torch.Tensor:
    """H(x, t) of the modified WC problem, one entry per objective (a pure function)."""
    gap = objectives - a
    return k * gap - t + k * eps * gap.sum()


def al_loss(objectives: torch.Tensor, k: torch.Tensor, a: torch.Tensor, eps: float,
            state: ALState) -> torch.Tensor:
    """t + sum_i psi(H_i), with psi = lambda H + mu/2 H^2 where lambda + mu H > 0 and
    the constant -lambda^2 / (2 mu) elsewhere: the PHR form above, written without the
    cancellation that (lambda + mu H)^2 - lambda^2 suffers in float32 when mu is the
    paper's 2.5e-8. Pure: usable under ``torch.func.vmap``."""
    h = wc_constraints(objectives, k, a, eps, state.t)
    lam, mu = state.lam, state.mu
    active = (lam + mu * h) > 0
    psi = torch.where(active, lam * h + 0.5 * mu * h.square(), -lam.square() / (2.0 * mu))
    return state.t + psi.sum()


def multiplier_step(lam: torch.Tensor, mu: torch.Tensor | float,
                    h_bar: torch.Tensor) -> torch.Tensor:
    """lambda <- max(0, lambda + mu Hbar) (elementwise: any leading dimensions)."""
    return torch.clamp(lam + mu * h_bar, min=0.0)


#: whether a run starts with LSUV, by ``lsuv`` value and k0 > 0
LSUV_POLICIES: dict[str, Callable[[bool], bool]] = {
    "always": lambda sparse: True,     # the paper: LSUV for all experiments
    "sparse": lambda sparse: sparse,   # the authors' code: phase 1 of k0 > 0 runs only
    "never": lambda sparse: False,
}


@METHODS.register("wc_al")
class WeightedChebyshevAL(ScalarisingMethod):
    name = "wc_al"
    description = "modified weighted Chebyshev + augmented Lagrangian (MDMTN paper)"
    param_table: dict[str, Param] = {
        **SPARSITY_TABLE,   # the GrOWL weights of L0 (beta1, beta2)
        # initial penalty; the paper's MultiMNIST value is 2.5e-8
        "mu0": real(0.5, 0.0, open_low=True),
        # penalty growth per iteration (1 keeps it constant; below 1 it would shrink)
        "rho": real(2.0, 1.0),
        # cap that keeps the penalty finite in long runs
        "mu_max": real(1.0e4, 0.0, open_low=True),
        # epsilon of the modified WC constraint
        "eps": real(1.0e-4, 0.0),
        # a, one entry per objective (k0 + tasks); None = the origin (paper)
        "ref_point": real(None, null=True, shape="list"),
        # lambda's start, one entry per objective; None = 1/(m+1) each (paper)
        "lambda0": real(None, 0.0, null=True, shape="list"),
        # a number, or "normal" = N(0,1) (the code; presets of paper data)
        "t_init": real(0.0, words=("normal",)),
        # always (paper) | sparse (authors' code) | never
        "lsuv": word("always", tuple(LSUV_POLICIES)),
        "phase1_iterations": integer(3, 1),    # M1: GrOWL iterations (k0 > 0)
        "phase2_iterations": integer(10, 1),   # M2: tied retraining iterations (k0 > 0)
        # minimum model SR (fraction of rows) of the phase-1 checkpoint
        "s_min": real(0.10, 0.0, 1.0),
        # per-layer cap on the zero-row fraction after M1 iterations
        "s_lmax": real(0.8, 0.0, 1.0),
        # tau of the prox: epoch_lr | raw (code) | a number
        "prox_step": real("epoch_lr", 0.0, open_low=True, words=tuple(PROX_STEPS)),
        # Affinity Propagation preference (a similarity: any sign)
        "ap_preference": real(0.7),
    }

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        n_obj = n_tasks + 1
        self.a = self._vector(params["ref_point"], n_obj, 0.0, "ref_point")
        self.lam0 = self._vector(params["lambda0"], n_obj, 1.0 / n_obj, "lambda0")
        self.lam = self.lam0.clone()
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
        self.lam0 = self.lam0.to(device)
        self._h_sum = self._h_sum.to(device)
        self.t.data = self.t.data.to(device)
        return self

    def constraints(self, objectives: torch.Tensor) -> torch.Tensor:
        """H(x, t) of the modified WC problem, one entry per objective."""
        return wc_constraints(objectives, self.k, self.a, self.params["eps"], self.t)

    def step_state(self) -> ALState:
        return ALState(self.t, self.lam, self.mu)

    def loss(self, objectives: torch.Tensor) -> torch.Tensor:
        """The augmented Lagrangian ``al_loss`` at this trial's preference and state."""
        return al_loss(objectives, self.k, self.a, self.params["eps"], self.step_state())

    def observe(self, objectives: torch.Tensor) -> None:
        """Add the batch's constraint values to the epoch's sum (for Hbar)."""
        self._h_sum += self.constraints(objectives).detach()
        self._h_batches += 1

    def stage_hooks(self) -> loop.StageHooks:
        """t is trained and checkpointed with the weights; every epoch starts a new
        constraint average, every iteration ends with the multiplier and penalty step."""
        return loop.StageHooks(parameters=[self.t], before_epoch=[self.begin_epoch],
                               after_iteration=[self.end_iteration])

    def begin_epoch(self) -> None:
        """Start the epoch's constraint average (Hbar) afresh."""
        self._h_sum.zero_()
        self._h_batches = 0

    def end_iteration(self) -> None:
        """Multiplier step lambda <- max(0, lambda + mu Hbar); then mu <- rho mu."""
        if self._h_batches:
            self.lam = multiplier_step(self.lam, self.mu, self._h_sum / self._h_batches)
        self.mu = min(self.mu * float(self.params["rho"]), float(self.params["mu_max"]))
        self.iterations += 1

    def restart(self) -> None:
        """A new phase starts from lambda0 and mu0
        (docs/methods/wc_al.md#multiplier-and-penalty-updates)."""
        self.lam = self.lam0.clone()
        self.mu = float(self.params["mu0"])
        self.begin_epoch()

    def initialise(self, model, data: loop.TrainData, settings,
                   generator: torch.Generator) -> None:
        """LSUV where the ``lsuv`` policy asks for it."""
        if LSUV_POLICIES[self.params["lsuv"]](self.uses_sparsity):
            x, _ = next(loop.batches(data.train, settings.batch_size, generator))
            lsuv_(model, x, generator)

    def fit(self, model, data: loop.TrainData, settings, generator: torch.Generator,
            on_epoch=None) -> loop.FitOutcome:
        """One stage (k0 = 0: the generic loop) or the two-phase schedule (k0 > 0)."""
        if not self.uses_sparsity:
            return super().fit(model, data, settings, generator, on_epoch)
        start = time.perf_counter()
        self.initialise(model, data, settings, generator)
        return fit_two_phase(model, self, data, settings, generator, on_epoch,
                             time.perf_counter() - start)

    def state(self) -> dict[str, Any]:
        return {"t": float(self.t.detach()), "lambda": self.lam.tolist(), "mu": self.mu,
                "iterations": self.iterations}
