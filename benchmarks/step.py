"""Training-step speed: paretoctl's epoch (trainers.trial.run_trial, ``time_train_s``)
against a plain baseline fed the way the papers' code feeds data, in one process,
interleaved (A B A B ...), median samples/s of each, their ratio, and achieved GFLOP/s.

Every baseline is fed alike: fp32 NCHW samples on the CPU in a per-sample Dataset that
normalises each sample in ``__getitem__`` (x - 0.1307) / 0.3081, a shuffling DataLoader,
copies of each batch to the device, Adam, the registry's architecture. Its step is the
case's method, written plainly as the papers' code writes it:

- linear, wc_al: the weighted-sum loss (plus k0 times the GrOWL value for the GrOWL case);
- mgda: one forward; per task zero_grad, backward and a copy of the shared parameters'
  gradients flattened to a vector; min-norm weights by Frank-Wolfe in numpy; a fresh
  forward and backward of the weighted loss;
- pmtl: Pareto MTL's phase 2 (paretoctl's timed epochs too: ``phase1_epochs: 0``), per-task
  gradients of all parameters as for mgda, min-norm over them and the active constraints'
  gradients, the rescaled weights, a fresh forward and backward;
- cosmos: a ray r ~ Dir(alpha) per batch fed as extra input channels (RayConditionedNet),
  loss r . L - penalty * cos(L, r);
- phn_ls: a ray r ~ Dir(alpha) per batch, the hypernetwork (ParetoHyperNet) generates the
  architecture's weights, loss r . L.

FLOPs per sample count the baseline's whole step (every forward and backward of it,
torch.utils.flop_counter), so both GFLOP/s figures use the method's own work. paretoctl's
epoch also includes its per-epoch validation (kept small here: n_val = 64).

The fast path (trainers/precision.py) is timed against paretoctl's own plain path in the
same interleaving: ``paretoctl`` runs ``train.precision: auto`` (bf16 autocast and
channels-last where the CPU has native bf16 and the model pays; ``ran`` says which),
``fp32`` the same trial with ``precision: fp32`` (float32, NCHW: the plain computation);
``fast`` is their ratio.
"""
from __future__ import annotations

import abc

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import DATASET, TorchState, median, trial_config
from benchmarks.machine import load_average, sync
from trainers.datasets import DATASETS
from trainers.methods.pmtl import rays_for
from trainers.models import ARCHITECTURES
from trainers.models.conditioning import RayConditionedNet
from trainers.models.hypernet import ParetoHyperNet
from trainers.sparsity import growl_value
from trainers.trial import run_trial

MEAN, STD = 0.1307, 0.3081  # the MNIST constants the papers' loaders normalise with


@dataclass(frozen=True)
class Case:
    method: str
    arch: str
    preference: list[float] | None = None
    growl: bool = False  # k0 > 0: the two-phase schedule; its phase 2 epochs are timed

    @property
    def label(self) -> str:
        return f"{self.method}{'+growl' if self.growl else ''} / {self.arch}"


HALF = [0.0, 0.5, 0.5]
CASES = [Case("linear", "lenet", HALF), Case("linear", "hps", HALF), Case("linear", "mdmtn", HALF),
         Case("wc_al", "lenet", HALF), Case("wc_al", "hps", HALF),
         Case("wc_al", "mdmtn", [0.2, 0.4, 0.4], growl=True),
         Case("mgda", "hps"), Case("pmtl", "hps", HALF), Case("cosmos", "hps"),
         Case("phn_ls", "hps")]


def case_config(case: Case, n: int, epochs: int, batch: int, device: str,
                precision: str = "auto") -> dict[str, Any]:
    params: dict[str, Any] = {}
    if case.method == "wc_al":  # LSUV is set-up, not a step
        params["lsuv"] = "never"
    if case.growl:
        params.update(phase1_iterations=1, phase2_iterations=epochs)
    if case.method == "pmtl":  # phase 1 stops early and unevenly: time the fixed phase only
        params["phase1_epochs"] = 0
    config = trial_config(case.method, case.arch, n_train=n, epochs=epochs, batch_size=batch,
                          device=device, preference=case.preference, params=params)
    config["train"]["precision"] = precision
    return config


def paretoctl_epoch_s(case: Case, config: dict[str, Any], epochs: int) -> tuple[float, str]:
    """Seconds per training epoch, and the precision that ran."""
    result = run_trial(config)
    if case.growl:
        return result["time_phase2_s"] / epochs, result["precision"]
    return result["time_train_s"] / epochs, result["precision"]


class PerSample(Dataset):
    """The papers' way: one normalised sample at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.x[i] - MEAN) / STD, self.y[i]


def frank_wolfe(gram: np.ndarray, max_iter: int = 250, tol: float = 1e-6) -> np.ndarray:
    """Simplex weights c minimising c^T M c, plainly in numpy as the MGDA paper's code
    does: the best pair of vectors in closed form, then Frank-Wolfe steps towards the
    vertex of smallest gradient with an exact line search."""

    def pair(a: float, b: float, d: float) -> float:  # weight on u in min ||g u + (1-g) w||
        if b >= a:
            return 1.0
        if b >= d:
            return 0.0
        return (d - b) / (a + d - 2 * b)

    n = len(gram)
    if n == 1:
        return np.ones(1)
    best, c = np.inf, np.zeros(n)
    for i in range(n):
        for j in range(i + 1, n):
            g = pair(gram[i, i], gram[i, j], gram[j, j])
            cost = g * g * gram[i, i] + 2 * g * (1 - g) * gram[i, j] + (1 - g) ** 2 * gram[j, j]
            if cost < best:
                best, c = cost, np.zeros(n)
                c[i], c[j] = g, 1 - g
    if n == 2:
        return c
    for _ in range(max_iter):
        grad = gram @ c
        t = int(np.argmin(grad))
        g = pair(float(c @ grad), float(grad[t]), float(gram[t, t]))
        new = g * c
        new[t] += 1 - g
        if np.abs(new - c).sum() < tol:
            return new
        c = new
    return c


class Baseline:
    """A plain weighted-sum training loop on the registry's architecture (the linear and
    wc_al cases); subclasses replace ``work`` with a method's own step."""

    def __init__(self, case: Case, config: dict[str, Any], device: torch.device) -> None:
        source = DATASETS.get(DATASET)
        bundle = source.build(config["dataset"]["options"], None)
        self.tasks, split = bundle.tasks, bundle.splits["train"]
        self.model = self.build(case, bundle).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loader = DataLoader(PerSample(split.x.float().cpu(), split.y.cpu()),
                                 batch_size=config["train"]["batch_size"], shuffle=True)
        pref = case.preference or [0.0] + [1.0 / len(self.tasks)] * len(self.tasks)
        self.k0, self.weights = (pref[0] if case.growl else 0.0), pref[1:]
        self.params = config["method"]["params"]
        self.device = device
        self.rng = np.random.default_rng(0)  # the front methods' training rays

    def build(self, case: Case, bundle) -> torch.nn.Module:
        return ARCHITECTURES.get(case.arch)(bundle.tasks, bundle.input_shape, DATASET, {})

    def task_losses(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        outputs = self.model(x)
        return [task.loss(out, y[:, i]) for i, (out, task) in enumerate(zip(outputs, self.tasks))]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = sum(w * l for w, l in zip(self.weights, self.task_losses(x, y)))
        if self.k0:
            weights = [w for _, w in self.model.eligible_weights()]
            loss = loss + self.k0 * growl_value(weights, self.params["beta1"], self.params["beta2"])
        return loss

    def work(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Everything of one step but the optimiser's update: the gradients in ``.grad``."""
        self.optimizer.zero_grad()
        self.loss(x, y).backward()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.work(x, y)
        self.optimizer.step()

    def epoch_s(self) -> float:
        self.model.train()
        sync(self.device)
        begin = time.perf_counter()
        for x, y in self.loader:
            self.step(x.to(self.device), y.to(self.device))
        sync(self.device)
        return time.perf_counter() - begin

    def flops_per_sample(self) -> float:
        """FLOPs of one step's ``work`` (all its forwards and backwards) per sample."""
        x, y = next(iter(self.loader))
        x, y = x.to(self.device), y.to(self.device)
        with FlopCounterMode(display=False) as counter:
            self.work(x, y)
        self.optimizer.zero_grad()
        return counter.get_total_flops() / len(x)


class GradientBaseline(Baseline, abc.ABC):
    """Per-task gradients the papers' way: one forward, then per task zero_grad,
    backward and a copy of the parameters' gradients flattened to a numpy vector.
    ``implements``: the method parameters whose values this step is written for
    (paretoctl's defaults); other values are refused."""

    implements: dict[str, Any] = {}

    def __init__(self, case: Case, config: dict[str, Any], device: torch.device) -> None:
        super().__init__(case, config, device)
        params = config["method"]["params"]
        for name, value in self.implements.items():
            if params[name] != value:
                raise ValueError(f"the {case.method} baseline implements {name}: {value}, "
                                 f"not {params[name]!r}")

    def grad_params(self) -> list[torch.nn.Parameter]:
        return list(self.model.shared_parameters())

    def task_gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(m, P) gradient vectors and the m losses, in float64 on the host."""
        losses = self.task_losses(x, y)
        params, grads = self.grad_params(), []
        for loss in losses:
            self.optimizer.zero_grad()
            loss.backward(retain_graph=True)
            grads.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p))
                                    .detach().clone().flatten() for p in params]))
        vectors = torch.stack(grads).double().cpu().numpy()
        return vectors, np.array([float(loss.detach()) for loss in losses])

    @abc.abstractmethod
    def loss_weights(self, vectors: np.ndarray, losses: np.ndarray) -> np.ndarray:
        """The method's task weights from the (m, P) gradients and the m losses."""

    def work(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The method's weights from the task gradients, then a fresh forward and backward
        of the weighted loss with the weights held constant."""
        vectors, losses = self.task_gradients(x, y)
        self.alpha = self.loss_weights(vectors, losses)
        self.optimizer.zero_grad()
        sum(float(a) * l for a, l in zip(self.alpha, self.task_losses(x, y))).backward()


class MGDABaseline(GradientBaseline):
    """MGDA (exact, shared parameters, no normalisation: paretoctl's default): the
    min-norm weights of the task gradients by Frank-Wolfe."""

    implements = {"mode": "exact", "grad_set": "shared", "normalization": "none", "clip": 0.0}

    def loss_weights(self, vectors: np.ndarray, losses: np.ndarray) -> np.ndarray:
        return frank_wolfe(vectors @ vectors.T)


class PMTLBaseline(GradientBaseline):
    """Pareto MTL's phase 2 (paretoctl's timed epochs: phase1_epochs 0), gradients w.r.t.
    all parameters (paretoctl's default): min-norm over the task gradients and the active
    constraint gradients sum_t (u_j - u_k)_t g_t, alpha = c_task + sum_j c_j (u_j - u_k)
    rescaled to sum |alpha| = m. Phase 1 is timed by neither side."""

    implements = {"grad_set": "all"}

    def __init__(self, case: Case, config: dict[str, Any], device: torch.device) -> None:
        super().__init__(case, config, device)
        rays, self.k = rays_for(torch.tensor(case.preference[1:]), int(self.params["n_rays"]))
        self.rows = (rays - rays[self.k]).numpy()  # the constraints (u_j - u_k) . L <= 0

    def grad_params(self) -> list[torch.nn.Parameter]:
        return list(self.model.parameters())

    def loss_weights(self, vectors: np.ndarray, losses: np.ndarray) -> np.ndarray:
        active = self.rows[self.rows @ (losses / np.linalg.norm(losses)) > 0]
        basis = np.concatenate([vectors, active @ vectors])
        c = frank_wolfe(basis @ basis.T)
        m = len(losses)
        weights = c[:m] + c[m:] @ active
        total = np.abs(weights).sum()
        return m * weights / total if total > 0 else np.zeros(m)


def cosmos_objective(losses: torch.Tensor, ray: torch.Tensor, penalty: float) -> torch.Tensor:
    """COSMOS: r . L - penalty * cos(L, r)."""
    return torch.dot(ray, losses) - penalty * F.cosine_similarity(losses, ray, dim=0, eps=1e-8)


class FrontBaseline(Baseline):
    """A front-learning step: a ray r ~ Dir(alpha) per batch set on the model."""

    def draw_ray(self) -> torch.Tensor:
        alpha = self.params["alpha"]  # one number, or one per task
        alpha = alpha if isinstance(alpha, list) else [alpha] * len(self.tasks)
        ray = self.rng.dirichlet([float(a) for a in alpha])
        ray = torch.tensor(ray, dtype=torch.float32, device=self.device)
        self.model.set_ray(ray)
        return ray


class CosmosBaseline(FrontBaseline):
    """COSMOS: the ray fed as extra input channels (the project's RayConditionedNet
    around the registry's architecture), loss r . L - lambda cos(L, r)."""

    def build(self, case: Case, bundle) -> torch.nn.Module:
        def make(shape):
            return ARCHITECTURES.get(case.arch)(bundle.tasks, shape, DATASET, {})
        return RayConditionedNet(make, bundle.input_shape, len(bundle.tasks))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ray = self.draw_ray()
        losses = torch.stack(self.task_losses(x, y))
        return cosmos_objective(losses, ray, float(self.params["penalty"]))


class PHNBaseline(FrontBaseline):
    """PHN-LS: the project's hypernetwork generates the registry architecture's weights
    from the ray; loss r . L."""

    def build(self, case: Case, bundle) -> torch.nn.Module:
        target = ARCHITECTURES.get(case.arch)(bundle.tasks, bundle.input_shape, DATASET, {})
        return ParetoHyperNet(target, len(bundle.tasks))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ray = self.draw_ray()
        return torch.dot(ray, torch.stack(self.task_losses(x, y)))


BASELINES = {"mgda": MGDABaseline, "pmtl": PMTLBaseline, "cosmos": CosmosBaseline,
             "phn_ls": PHNBaseline}


def make_baseline(case: Case, config: dict[str, Any], device: torch.device) -> Baseline:
    """The case's plain baseline: its method's own step, weighted sum otherwise."""
    return BASELINES.get(case.method, Baseline)(case, config, device)


def measure(case: Case, n: int, epochs: int, batch: int, repeats: int,
            device: torch.device) -> dict[str, Any]:
    state = TorchState()
    config = case_config(case, n, epochs, batch, str(device))
    plain = case_config(case, n, epochs, batch, str(device), precision="fp32")
    baseline = make_baseline(case, config, device)
    flops = baseline.flops_per_sample()
    ours, fp32, theirs = [], [], []
    for _ in range(repeats):  # interleaved, so a change of load hits all alike
        seconds, ran = paretoctl_epoch_s(case, config, epochs)
        ours.append(n / seconds)
        fp32.append(n / paretoctl_epoch_s(case, plain, epochs)[0])
        state.restore()
        theirs.append(n / median([baseline.epoch_s() for _ in range(epochs)]))
    ours_sps, fp32_sps, theirs_sps = median(ours), median(fp32), median(theirs)
    return {"case": case.label, "n": n, "paretoctl": ours_sps, "ran": ran, "fp32": fp32_sps,
            "fast": ours_sps / fp32_sps, "baseline": theirs_sps,
            "ratio": ours_sps / theirs_sps, "mflop": flops / 1e6,
            "ours_gflops": flops * ours_sps / 1e9, "base_gflops": flops * theirs_sps / 1e9,
            "load": load_average().split()[0]}


HEADER = (f"{'method / arch':<22} {'N':>6} {'paretoctl/s':>11} {'ran':>4} {'fp32/s':>7} "
          f"{'fast':>5} {'baseline/s':>10} {'ratio':>6} "
          f"{'MFLOP/smp':>9} {'ours GF/s':>9} {'base GF/s':>9} {'load':>5}")


def row(r: dict[str, Any]) -> str:
    return (f"{r['case']:<22} {r['n']:>6} {r['paretoctl']:>11.0f} {r['ran']:>4} "
            f"{r['fp32']:>7.0f} {r['fast']:>5.2f} {r['baseline']:>10.0f} "
            f"{r['ratio']:>6.2f} {r['mflop']:>9.2f} {r['ours_gflops']:>9.2f} "
            f"{r['base_gflops']:>9.2f} {r['load']:>5}")


def run(device: torch.device, n: int, epochs: int, batch: int, repeats: int,
        only: list[str] | None = None) -> list[dict[str, Any]]:
    """Print one row per case (``only``: methods to keep); returns the rows."""
    print("samples/s: median of interleaved repeats; ratio = paretoctl / baseline; "
          "fast = paretoctl (precision auto, ran) / paretoctl fp32 NCHW; "
          "load = 1-minute load average after the case")
    print(HEADER)
    rows = []
    for case in CASES:
        if only and case.method not in only:
            continue
        rows.append(measure(case, n, epochs, batch, repeats, device))
        print(row(rows[-1]), flush=True)
    return rows
