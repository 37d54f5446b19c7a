"""``kdmtl``: knowledge-distillation multi-task learning (Li & Bilen), as the MDMTN paper
compares it (docs/methods/baselines.md#kdmtl).

One trial trains, in order:

1. the single-task *teachers*: one fresh network S_t + O_t per task (the student's trunk,
   re-initialised), trained like ``stl`` (trainers/methods/stl.py: per-task best
   validation checkpoint) with the STL settings of the data set (``teacher_*`` params;
   ``None`` = the trial's own training settings);
2. the *student*, the ``kdmtl`` architecture (HPS plus one adaptor A_t per task), on

       L = L_1 + L_2 + sum_t lambda_t * mean_batch || n(A_t(S(u))) - n(f_t(u)) ||^2,

   n the L2 normalisation of a feature vector and f_t(u) teacher t's penultimate feature
   (frozen). The gradient of the distillation term flows into the student's shared
   network S and the adaptors A_t: that is what distillation means and what the paper
   describes. The authors' code detaches both features, so its distillation term has no
   gradient and its KDMTL is plain HPS on L_1 + L_2 with never-updated adaptors
   (docs/methods/baselines.md#distillation-gradient); the paper wins.

Optimisers: Adam on the network (S and heads) with the trial's ``lr`` (1e-4 in the
presets), x0.98 every 25 epochs, 200 epochs; a second Adam with weight decay 5e-4
(``adaptor_weight_decay``) on the adaptors, at ``adaptor_lr`` (``None`` = the trial's lr)
and without schedule. The stage's optimiser holds every model parameter, but the adaptors'
gradients are handed to their own optimiser and cleared before the stage's step, so each
parameter is updated by exactly one of the two.

``lambda`` is one number for every task or one per task; the default 0.025 per task is the
equal-weight candidate of the authors' search grid, whose selected value is not recorded.
LSUV (``lsuv``, default true) initialises the teachers and the student at the start, as
paper ("all experiments") and code agree. The training time is teachers plus student
(``time_teachers_s`` in the trial info gives the teachers' share). The teachers' epochs
appear in the history with ``stage: teachers``. The method takes no preference.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainers import loop
from trainers.methods import METHODS
from trainers.methods.base import Method
from trainers.methods.mdmtn_baselines import initialise, require, task_weights, weight_vector
from trainers.methods.params import Param, flag, integer, real
from trainers.methods.stl import SingleTask, fit_per_task
from trainers.models.kdmtl import KDMTLNet
from trainers.models.stl import STLNet


#: teacher settings that may be None (= the trial's value), by TrainSettings field
TEACHER_FIELDS = {"teacher_epochs": "epochs", "teacher_lr": "lr",
                  "teacher_lr_decay": "lr_decay",
                  "teacher_epochs_per_iteration": "epochs_per_iteration"}


def distillation(adapted: list[torch.Tensor], teacher: list[torch.Tensor],
                 lambdas: torch.Tensor) -> torch.Tensor:
    """sum_t lambda_t * mean over the batch of || n(adapted_t) - n(teacher_t) ||^2."""
    terms = [(F.normalize(a, dim=1) - F.normalize(f, dim=1)).pow(2).sum(dim=1).mean()
             for a, f in zip(adapted, teacher)]
    return torch.dot(lambdas, torch.stack(terms))


def fresh_copy(module: nn.Module) -> nn.Module:
    """Same layers, newly initialised (PyTorch's default initialisation of each layer)."""
    copied = copy.deepcopy(module)
    for layer in copied.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return copied


def make_teachers(student: KDMTLNet, tasks) -> STLNet:
    """One single-task network per task: the student's trunk S, fresh, plus a head."""
    device = next(student.parameters()).device
    return STLNet([fresh_copy(student.shared) for _ in tasks], tasks).to(device)


@METHODS.register("kdmtl")
class KnowledgeDistillation(Method):
    name = "kdmtl"
    description = "single-task teachers distilled into an HPS student through adaptors"
    uses_preference = False
    architectures = ("kdmtl",)
    param_table: dict[str, Param] = {
        "lambda": task_weights(0.025),   # lambda_t: one number or one per task
        # None: the trial's own value (presets: STL's)
        "teacher_epochs": integer(None, 1, null=True),
        "teacher_lr": real(None, 0.0, open_low=True, null=True),
        "teacher_lr_decay": real(None, 0.0, open_low=True, null=True),
        "teacher_epochs_per_iteration": integer(None, 1, null=True),
        "adaptor_lr": real(None, 0.0, open_low=True, null=True),   # None: the trial's lr
        "adaptor_weight_decay": real(5e-4, 0.0),
        "lsuv": flag(True),
    }

    def __init__(self, preference, params, n_tasks) -> None:
        super().__init__(preference, params, n_tasks)
        self.lambdas = weight_vector(params["lambda"], n_tasks, "lambda")
        self.teachers: STLNet | None = None
        self.adaptor_optimizer: torch.optim.Optimizer | None = None

    def to(self, device: torch.device) -> "KnowledgeDistillation":
        super().to(device)
        self.lambdas = self.lambdas.to(device)
        return self

    def build_model(self, build, input_shape):
        model = build(input_shape)
        require(model, KDMTLNet, self.name, "kdmtl")
        return model

    def teacher_settings(self, settings):
        """The trial's settings with the teachers' own epochs and schedule (Adam, as STL)."""
        changes = {field: self.params[name] for name, field in TEACHER_FIELDS.items()
                   if self.params[name] is not None}
        return dataclasses.replace(settings, optimizer="adam", **changes)

    def batch_loss(self, model: KDMTLNet, tasks, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Task losses plus the distillation term on one batch (it needs the features, so
        it is not a scalarisation of the objective vector)."""
        outputs, adapted = model.outputs_and_adapted(x)
        losses = torch.stack([task.loss(out, y[:, i])
                              for i, (out, task) in enumerate(zip(outputs, tasks))])
        with torch.no_grad():
            targets = self.teachers.features(x)
        return losses.sum() + distillation(adapted, targets, self.lambdas)

    def step_adaptors(self) -> None:
        """Between the backward pass and the stage's step: the adaptors' own optimiser
        steps them and clears their gradients, so the stage's Adam skips them."""
        self.adaptor_optimizer.step()
        self.adaptor_optimizer.zero_grad(set_to_none=True)

    def fit_teachers(self, model: KDMTLNet, data: loop.TrainData, settings, generator,
                     on_epoch) -> loop.StageOutcome:
        """Train (and freeze) one single-task teacher per task, as ``stl`` would."""
        teachers = make_teachers(model, data.tasks)
        stl = SingleTask(None, {"lsuv": self.params["lsuv"]}, self.n_tasks)
        t_settings = self.teacher_settings(settings)
        time_lsuv = initialise(teachers, data, t_settings, generator, self.params["lsuv"])
        stage = fit_per_task(teachers, stl, data, t_settings, generator, on_epoch, "teachers")
        stage.time_s += time_lsuv
        teachers.eval().requires_grad_(False)
        self.teachers = teachers
        return stage

    def fit(self, model, data: loop.TrainData, settings, generator: torch.Generator,
            on_epoch=None) -> loop.FitOutcome:
        teachers = self.fit_teachers(model, data, settings, generator, on_epoch)
        start = time.perf_counter()
        initialise(model, data, settings, generator, self.params["lsuv"])
        lr = self.params["adaptor_lr"] or settings.lr
        self.adaptor_optimizer = torch.optim.Adam(model.adaptors.parameters(), lr=lr,
                                                  weight_decay=self.params["adaptor_weight_decay"])
        time_lsuv = time.perf_counter() - start
        student = loop.run_stage(model, self, data, settings, loop.Stage("train", settings.epochs,
                                                               before_update=[self.step_adaptors]),
                                 generator, on_epoch)
        return loop.FitOutcome(
            [teachers, student], time_phase1_s=teachers.time_s + time_lsuv + student.time_s,
            info={"time_teachers_s": teachers.time_s,
                  "teacher_best_epochs": teachers.info["best_epochs"],
                  "teacher_val_scores": teachers.info["best_val_scores"]})

    def state(self) -> dict[str, Any]:
        return {"lambda": [float(v) for v in self.lambdas.detach().cpu()]}
