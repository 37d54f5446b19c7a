"""The papers' presets in one table: (method, data, architecture) -> training settings and
method parameters, each row with its source (a paper, or "our choice").

A trial's settings resolve in layers (orchestrator/expand.py): the built-in defaults <
the rows of this table that match it, merged from general to specific < the sweep's
``train`` / ``params`` < its search axes. A row names a method, a group of methods or
"*"; a data set, a family of data sets (``FAMILIES``) or "*", or a tuple of those; an
architecture or "*". Specificity is compared method first, then data, then architecture
("*" < group or family < one name), so a method's row overrides the data set's own
training settings, and a data set's row overrides its family's. Parameters belong to a
method: rows for every method ("*") set training settings only. Method parameters' own
defaults stay in each method's ``param_table``; this table only holds what differs per
data set. docs/presets.md lists the table (``python -m trainers.presets``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

#: data sets that share their presets, defined once
FAMILIES: dict[str, tuple[str, ...]] = {
    # the 36x36 overlays of Lin et al. (2019), section 6.1
    "mm36": ("multimnist36", "multifashion", "multifashion_mnist"),
    # the MDMTN paper's 28x28 MultiMNIST
    "multimnist": ("multimnist",),
    "cifar10mnist": ("cifar10mnist",),
    # the COSMOS paper's fairness tables
    "fairness": ("adult", "compas", "default"),
    "celeba": ("celeba",),
    "multidigits": ("multidigits",),
    "synthetic": ("synthetic_concave",),
}

#: methods that share rows
METHOD_GROUPS: dict[str, tuple[str, ...]] = {
    "front": ("cosmos", "phn_ls", "phn_epo"),
    "phn": ("phn_ls", "phn_epo"),
}

ANY = "*"
#: MultiMNIST and the overlays that borrow its MDMTN-paper values
MDMTN_DATA = ("multimnist", "mm36")


@dataclass(frozen=True)
class Row:
    """One preset: where it applies, what it sets, and where the values come from."""

    method: str
    data: str | tuple[str, ...]
    arch: str
    source: str
    train: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def data_names(self) -> tuple[str, ...]:
        return self.data if isinstance(self.data, tuple) else (self.data,)


def method_level(name: str, method: str) -> int | None:
    """How specifically ``name`` (a row's method field) names ``method``; None: not at all."""
    if name == ANY:
        return 0
    if name in METHOD_GROUPS:
        return 1 if method in METHOD_GROUPS[name] else None
    return 2 if name == method else None


def data_level(names: tuple[str, ...], dataset: str) -> int | None:
    """The most specific of ``names`` (families, data sets or "*") naming ``dataset``."""
    levels = [0 if n == ANY else 1 if n in FAMILIES and dataset in FAMILIES[n]
              else 2 if n == dataset and n not in FAMILIES else None for n in names]
    found = [level for level in levels if level is not None]
    return max(found) if found else None


def arch_level(name: str, arch: str | None) -> int | None:
    """"*" matches any architecture; a named one only that one (None asks for "*" rows)."""
    if name == ANY:
        return 0
    return 1 if arch is not None and name == arch else None


def matching(method: str, dataset: str, arch: str | None = None) -> list[Row]:
    """The rows that apply, from general to specific (table order among equals)."""
    ranked = []
    for position, row in enumerate(ROWS):
        levels = (method_level(row.method, method), data_level(row.data_names(), dataset),
                  arch_level(row.arch, arch))
        if None not in levels:
            ranked.append((levels, position, row))
    return [row for _, _, row in sorted(ranked, key=lambda item: item[:2])]


def train(method: str, dataset: str, arch: str | None = None) -> dict[str, Any]:
    """The training settings the presets give ``method`` on ``dataset`` (and ``arch``)."""
    merged: dict[str, Any] = {}
    for row in matching(method, dataset, arch):
        merged.update(row.train)
    return merged


def params(method: str, dataset: str, arch: str | None = None) -> dict[str, Any]:
    """The method parameters the presets set on ``dataset`` (and ``arch``)."""
    merged: dict[str, Any] = {}
    for row in matching(method, dataset, arch):
        merged.update(row.params)
    return merged


HOTEGNI = "Hotegni, Berkemeier & Peitz (2024)"
RUCHTE_A = "Ruchte & Grabocka (2021a)"
LIN = "Lin et al. (2019)"
NAVON = "Navon et al. (2021)"

#: the MDMTN paper's MultiMNIST training (docs/methods/wc_al.md#presets)
WCAL_MULTIMNIST_TRAIN = {"epochs": 36, "batch_size": 256, "lr": 2.5e-3, "lr_decay": 0.5,
                         "epochs_per_iteration": 3, "optimizer": "adam"}
#: the MDMTN paper's STL baseline (docs/methods/baselines.md#stl-settings)
STL_MULTIMNIST_TRAIN = {"epochs": 100, "batch_size": 256, "lr": 1e-2, "lr_decay": 0.5,
                        "epochs_per_iteration": 30, "optimizer": "adam"}
STL_CIFAR10MNIST_TRAIN = {"epochs": 100, "batch_size": 256, "lr": 5e-2, "lr_decay": 0.98,
                          "epochs_per_iteration": 1, "optimizer": "adam"}


def teacher_params(stl_train: dict[str, Any]) -> dict[str, Any]:
    """KDMTL's teachers train like ``stl``: its training settings as teacher parameters."""
    return {"teacher_epochs": stl_train["epochs"], "teacher_lr": stl_train["lr"],
            "teacher_lr_decay": stl_train["lr_decay"],
            "teacher_epochs_per_iteration": stl_train["epochs_per_iteration"]}


ROWS: tuple[Row, ...] = (
    # --- every method: the data sets' own training settings ---------------------------
    Row(ANY, "mm36", ANY, f"the papers' common settings on the overlays of {LIN}, section "
        "6.1: Adam lr 1e-3, batch 256, 100 epochs (docs/datasets.md#pareto-mtl-overlays)",
        train={"batch_size": 256, "lr": 1e-3, "epochs": 100}),
    Row(ANY, "multimnist", ANY, f"{HOTEGNI}: batch 256; validation and test batch 100 "
        "(the authors' code; docs/methods/wc_al.md#presets)",
        train={"batch_size": 256, "eval_batch_size": 100}),
    Row(ANY, "cifar10mnist", ANY, f"{HOTEGNI}: batch 256 (docs/methods/wc_al.md#presets)",
        train={"batch_size": 256}),
    Row(ANY, "fairness", ANY, f"{RUCHTE_A}: Adam lr 1e-3, batch 256, 50 epochs; "
        "our choice: a split evaluated in one batch, so DEO is the data set's value "
        "(docs/datasets.md#fairness-tables)",
        train={"batch_size": 256, "lr": 1e-3, "epochs": 50, "eval_batch_size": 1 << 17}),
    Row(ANY, "celeba", ANY, f"{RUCHTE_A}, their code: batch 32, lr 5e-4, 30 epochs "
        "(docs/datasets.md#celeba)",
        train={"batch_size": 32, "lr": 5e-4, "epochs": 30}),
    Row(ANY, "multidigits", ANY, "our choice: small and quick, enough for a real trade-off "
        "(docs/datasets.md#multidigits)",
        train={"epochs": 12, "batch_size": 128, "lr": 3e-3}),
    Row(ANY, "synthetic", ANY, f"{LIN}, section 5: 100 full-batch steps of plain gradient "
        "descent with step size 1, last iterate (docs/datasets.md#synthetic-concave-problem)",
        train={"epochs": 100, "batch_size": 1, "optimizer": "sgd", "lr": 1.0, "momentum": 0.0,
               "checkpoint": "last"}),
    # --- wc_al (docs/methods/wc_al.md#presets) ------------------------------------------
    Row("wc_al", ANY, ANY, f"{HOTEGNI}: p = 3 epochs per iteration",
        train={"epochs_per_iteration": 3}),
    Row("wc_al", MDMTN_DATA, ANY, f"{HOTEGNI}, MultiMNIST settings; the 36x36 overlays have "
        "no paper values and borrow them (our choice)",
        train=WCAL_MULTIMNIST_TRAIN,
        params={"mu0": 2.5e-8, "ap_preference": 0.7, "s_min": 0.20, "s_lmax": 0.8,
                "t_init": "normal"}),
    Row("wc_al", MDMTN_DATA, "hps", f"{HOTEGNI}, MultiMNIST HPS: s_min 0.10",
        params={"s_min": 0.10}),
    Row("wc_al", "cifar10mnist", ANY, f"{HOTEGNI}, Cifar10Mnist settings",
        train={**WCAL_MULTIMNIST_TRAIN, "lr": 1e-4, "lr_decay": 0.98},
        params={"mu0": 6.8e-8, "ap_preference": 0.8, "s_min": 0.10, "s_lmax": 0.3,
                "t_init": "normal"}),
    Row("wc_al", "cifar10mnist", "hps", f"{HOTEGNI}, Cifar10Mnist HPS: s_min / s_lmax "
        "0.05 / 0.15", params={"s_min": 0.05, "s_lmax": 0.15}),
    Row("wc_al", "synthetic", ANY, "our choice: step 0.1 for 30 iterations of 10 steps, and a "
        "penalty growing slowly to a low cap, keep the full-batch steps stable (the "
        "problem's step 1 with mu doubling to 1e4 ends at (1, 1))",
        train={"lr": 0.1, "epochs": 300, "epochs_per_iteration": 10},
        params={"mu0": 1.0, "rho": 1.5, "mu_max": 20.0}),
    # --- stl, kdmtl, mtan: the MDMTN paper's baselines (docs/methods/baselines.md) -------
    Row("stl", MDMTN_DATA, ANY, f"{HOTEGNI}, STL baseline on MultiMNIST (the overlays "
        "borrow it); decay after 30 completed epochs (docs/methods/baselines.md#stl-settings)",
        train=STL_MULTIMNIST_TRAIN),
    Row("stl", "cifar10mnist", ANY, f"{HOTEGNI}, STL baseline on Cifar10Mnist: the paper's lr "
        "5e-2, not the code's 1e-4 (docs/methods/baselines.md#stl-settings)",
        train=STL_CIFAR10MNIST_TRAIN),
    Row("kdmtl", (*MDMTN_DATA, "cifar10mnist"), ANY, f"{HOTEGNI}, KDMTL baseline: student Adam "
        "lr 1e-4, x0.98 every 25 epochs, 200 epochs (docs/methods/baselines.md#kdmtl)",
        train={"epochs": 200, "batch_size": 256, "lr": 1e-4, "lr_decay": 0.98,
               "epochs_per_iteration": 25, "optimizer": "adam"}),
    Row("kdmtl", MDMTN_DATA, ANY, f"{HOTEGNI}: the teachers train like the STL baseline",
        params=teacher_params(STL_MULTIMNIST_TRAIN)),
    Row("kdmtl", "cifar10mnist", ANY, f"{HOTEGNI}: the teachers train like the STL baseline",
        params=teacher_params(STL_CIFAR10MNIST_TRAIN)),
    Row("mtan", (*MDMTN_DATA, "cifar10mnist"), ANY, f"{HOTEGNI}, MTAN baseline: Adam, 200 "
        "epochs, x0.5 every 25, batch 256; our choice: lr 1e-3 (the searched value is not "
        "recorded; docs/methods/baselines.md#mtan)",
        train={"epochs": 200, "batch_size": 256, "lr": 1e-3, "lr_decay": 0.5,
               "epochs_per_iteration": 25, "optimizer": "adam"}),
    # --- mgda (docs/methods/gradient_combining.md#mgda-presets) --------------------------
    Row("mgda", ("multimnist", "cifar10mnist"), ANY, f"{HOTEGNI}, MGDA baseline: SGD lr 1e-2, "
        "momentum 0.9, batch 256, 100 epochs, lr halved after 30, 60, 90 epochs",
        train={"optimizer": "sgd", "lr": 1e-2, "momentum": 0.9, "epochs": 100,
               "batch_size": 256, "lr_decay": 0.5, "epochs_per_iteration": 30}),
    Row("mgda", "mm36", ANY, f"{RUCHTE_A} and Ruchte & Grabocka (2021b): Adam lr 1e-3, "
        "batch 256, 100 epochs, no schedule",
        train={"optimizer": "adam", "lr": 1e-3, "epochs": 100, "batch_size": 256,
               "lr_decay": 1.0, "epochs_per_iteration": 1}),
    # --- pmtl (docs/methods/gradient_combining.md#pareto-mtl-presets) -------------------
    Row("pmtl", ANY, ANY, f"{LIN}: 100 epochs, last epoch kept",
        train={"epochs": 100, "checkpoint": "last"}),
    Row("pmtl", "mm36", ANY, f"{LIN}, their code and the COSMOS port: Adam lr 1e-3, batch "
        "256, lr halved after every 15 epochs",
        train={"batch_size": 256, "lr": 1e-3, "epochs": 100, "lr_decay": 0.5,
               "epochs_per_iteration": 15, "optimizer": "adam"}),
    Row("pmtl", "mm36", "lenet_pmtl", f"{LIN}, their LeNet script: SGD lr 1e-3, momentum 0.9",
        train={"optimizer": "sgd", "momentum": 0.9}),
    Row("pmtl", "synthetic", ANY, f"{LIN}, section 5: 10 reference vectors, 20 phase-1 and "
        "80 phase-2 steps", train={"epochs": 80}, params={"n_rays": 10, "phase1_epochs": 20}),
    # --- cosmos, phn_ls, phn_epo (docs/methods/front_learning.md) ------------------------
    Row("front", ANY, ANY, "our choice: one epoch per iteration (the schedule steps per epoch)",
        train={"epochs_per_iteration": 1}),
    Row("cosmos", MDMTN_DATA, ANY, f"{RUCHTE_A}, their code: Adam lr 1e-3, batch 256, 100 "
        "epochs, lr x0.1 at epochs 20, 40, 80, 90; alpha 1.2, penalty 2 (MultiMNIST borrows "
        "Multi-MNIST's; docs/methods/front_learning.md#cosmos-presets)",
        train={"optimizer": "adam", "lr": 1e-3, "batch_size": 256, "epochs": 100,
               "lr_decay": 1.0},
        params={"alpha": 1.2, "penalty": 2.0, "lr_milestones": [20, 40, 80, 90],
                "lr_gamma": 0.1}),
    Row("cosmos", "multifashion_mnist", ANY, f"{RUCHTE_A}: penalty 8 on Multi-Fashion+MNIST",
        params={"penalty": 8.0}),
    Row("cosmos", "fairness", ANY, f"{RUCHTE_A}: alpha 0.5, penalty 0.01; Adam lr 1e-3, "
        "batch 256, 50 epochs, no schedule",
        train={"optimizer": "adam", "lr": 1e-3, "batch_size": 256, "epochs": 50,
               "lr_decay": 1.0},
        params={"alpha": 0.5, "penalty": 0.01}),
    Row("cosmos", "default", ANY, f"{RUCHTE_A}: alpha (0.1, 0.5) per objective on Default",
        params={"alpha": [0.1, 0.5]}),
    Row("cosmos", "celeba", ANY, f"{RUCHTE_A}: alpha 1, penalty 3, Adam lr 5e-4, "
        "batch 32, 25 epochs (the paper's count; the code runs 30)",
        train={"optimizer": "adam", "lr": 5e-4, "batch_size": 32, "epochs": 25},
        params={"alpha": 1.0, "penalty": 3.0}),
    Row("phn", MDMTN_DATA, ANY, f"{NAVON} and {RUCHTE_A}: Adam lr 1e-4, batch 256, 150 "
        "epochs, no schedule (docs/methods/front_learning.md#phn-presets)",
        train={"optimizer": "adam", "lr": 1e-4, "batch_size": 256, "epochs": 150,
               "lr_decay": 1.0}),
    Row("phn", "fairness", ANY, f"{NAVON} and {RUCHTE_A}: Adam lr 1e-4, batch 256, 50 epochs, "
        "no schedule",
        train={"optimizer": "adam", "lr": 1e-4, "batch_size": 256, "epochs": 50,
               "lr_decay": 1.0}),
    Row("phn", "synthetic", ANY, "our choice: Adam lr 1e-2 for 300 steps spreads the rays "
        "along the front (the problem's SGD step 1 sends PHN-EPO to (1, 1))",
        train={"optimizer": "adam", "lr": 1e-2, "epochs": 300}),
)


def cell(value: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in value.items())


def markdown() -> str:
    """docs/presets.md: the families and every row with its source."""
    lines = ["# Presets", "",
             "Generated from trainers/presets.py (`python -m trainers.presets > docs/presets.md`);",
             "tests/test_presets.py checks that the two agree. A trial's settings are the",
             "built-in defaults, then every matching row below from general to specific",
             "(method, then data, then architecture; `*` < group or family < one name), then",
             "the sweep's `train` / `params`, then its search axes.", "",
             "## Families", "", "| family | data sets |", "|---|---|"]
    lines += [f"| `{name}` | {', '.join(members)} |" for name, members in FAMILIES.items()]
    lines += ["", "## Method groups", "", "| group | methods |", "|---|---|"]
    lines += [f"| `{name}` | {', '.join(members)} |" for name, members in METHOD_GROUPS.items()]
    lines += ["", "## Rows", "", "| method | data | arch | train | params | source |",
              "|---|---|---|---|---|---|"]
    for row in ROWS:
        lines.append(f"| {row.method} | {', '.join(row.data_names())} | {row.arch} | "
                     f"{cell(row.train)} | {cell(row.params)} | {row.source} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
