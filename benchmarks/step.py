"""Training-step speed: paretoctl's epoch (trainers.trial.run_trial, ``time_train_s``)
against a plain baseline fed the way the papers' code feeds data, in one process,
interleaved (A B A B ...), median samples/s of each, their ratio, and achieved GFLOP/s.

The baseline: fp32 NCHW samples on the CPU in a per-sample Dataset that normalises each
sample in ``__getitem__`` (x - 0.1307) / 0.3081, a shuffling DataLoader, copies of each batch
to the device, Adam, a weighted-sum loss (plus k0 times the GrOWL value for the GrOWL case)
on the same architecture built by the registry. FLOPs per sample are one forward and
backward of that step (torch.utils.flop_counter), so the GFLOP/s of methods doing more per
step (MGDA, PMTL, COSMOS, PHN) count the model's flops only. paretoctl's epoch also
includes its per-epoch validation (kept small here: n_val = 64).

The fast path (trainers/precision.py) is timed against paretoctl's own plain path in the
same interleaving: ``paretoctl`` runs ``train.precision: auto`` (bf16 autocast and
channels-last where the CPU has native bf16 and the model pays; ``ran`` says which),
``fp32`` the same trial with ``precision: fp32`` (float32, NCHW: the plain computation);
``fast`` is their ratio.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import DATASET, TorchState, median, trial_config
from benchmarks.machine import load_average, sync
from trainers.datasets import DATASETS
from trainers.models import ARCHITECTURES
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


class Baseline:
    """A plain weighted-sum training loop on the registry's architecture."""

    def __init__(self, case: Case, config: dict[str, Any], device: torch.device) -> None:
        source = DATASETS.get(DATASET)
        bundle = source.build(config["dataset"]["options"], None)
        self.tasks, split = bundle.tasks, bundle.splits["train"]
        self.model = ARCHITECTURES.get(case.arch)(bundle.tasks, bundle.input_shape, DATASET,
                                                  {}).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loader = DataLoader(PerSample(split.x.float().cpu(), split.y.cpu()),
                                 batch_size=config["train"]["batch_size"], shuffle=True)
        pref = case.preference or [0.0] + [1.0 / len(self.tasks)] * len(self.tasks)
        self.k0, self.weights = (pref[0] if case.growl else 0.0), pref[1:]
        self.params = config["method"]["params"]
        self.device = device

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        outputs = self.model(x)
        loss = sum(w * task.loss(out, y[:, i])
                   for i, (w, out, task) in enumerate(zip(self.weights, outputs, self.tasks)))
        if self.k0:
            weights = [w for _, w in self.model.eligible_weights()]
            loss = loss + self.k0 * growl_value(weights, self.params["beta1"], self.params["beta2"])
        return loss

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        self.loss(x, y).backward()
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
        x, y = next(iter(self.loader))
        x, y = x.to(self.device), y.to(self.device)
        with FlopCounterMode(display=False) as counter:
            self.loss(x, y).backward()
        self.optimizer.zero_grad()
        return counter.get_total_flops() / len(x)


def measure(case: Case, n: int, epochs: int, batch: int, repeats: int,
            device: torch.device) -> dict[str, Any]:
    state = TorchState()
    config = case_config(case, n, epochs, batch, str(device))
    plain = case_config(case, n, epochs, batch, str(device), precision="fp32")
    baseline = Baseline(case, config, device)
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
