"""Per-task gradients and the weighted step of the gradient-combining methods (MGDA,
Pareto MTL): one place that keeps the gradient layout consistent.

Every task gradient is flattened over *one fixed parameter list*, with zeros where a task
does not reach a parameter (the other task's head), so the rows of the gradient matrix line
up scalar by scalar (docs/methods/gradient_combining.md#missing-gradients: dropping
all-zero tensors pairs one task's head with the other's). Gradients come from
``torch.autograd.grad``, which never accumulates into ``.grad``: no task sees another
task's leftover gradient (the MDMTN code's MGDA bookkeeping bug,
docs/methods/gradient_combining.md#gradient-bookkeeping-in-the-mdmtn-code).
"""
from __future__ import annotations

import torch
from torch import nn

from trainers import loop
from trainers.datasets import Task

#: which parameters a method differentiates: the shared ones (Sener & Koltun) or all
#: (Pareto MTL's code, the MGDA of Ruchte & Grabocka (2021b)); the other task's head then
#: contributes zeros
GRAD_SETS = ("shared", "all")


def parameter_set(model: nn.Module, grad_set: str) -> list[nn.Parameter]:
    """The trainable parameters named by ``grad_set``, in the model's fixed order."""
    if grad_set not in GRAD_SETS:
        raise ValueError(f"grad_set must be one of {', '.join(GRAD_SETS)}, got {grad_set!r}")
    params = model.shared_parameters() if grad_set == "shared" else model.parameters()
    return [p for p in params if p.requires_grad]


def task_losses(model: nn.Module, method, tasks: tuple[Task, ...], x: torch.Tensor,
                y: torch.Tensor) -> torch.Tensor:
    """(L_1, ..., L_m) of one batch, with graph (the sparsity term L0 is not a task)."""
    return loop.objective_vector(model, method, tasks, x, y)[1:]


def flat_gradients(losses: torch.Tensor, inputs: list[torch.Tensor]) -> torch.Tensor:
    """(m, P) matrix whose row t is dL_t/d(inputs), flattened in the order of ``inputs``;
    a tensor a loss does not reach contributes zeros."""
    rows = []
    for loss in losses:
        if loss.requires_grad:
            grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
        else:
            grads = (None,) * len(inputs)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                               for g, p in zip(grads, inputs)]))
    return torch.stack(rows)


def gram(grads: torch.Tensor) -> torch.Tensor:
    """Inner products <g_i, g_j> as a float64 CPU matrix (what the solvers take)."""
    return (grads @ grads.T).detach().to("cpu", torch.float64)


def weighted_step(model: nn.Module, method, tasks: tuple[Task, ...], x: torch.Tensor,
                  y: torch.Tensor, optimizer: torch.optim.Optimizer,
                  weights: torch.Tensor) -> torch.Tensor:
    """A fresh forward, then one optimiser step on sum_t w_t L_t with w constant;
    returns that loss, detached."""
    losses = task_losses(model, method, tasks, x, y)
    loss = torch.dot(weights.detach().to(losses), losses)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()
