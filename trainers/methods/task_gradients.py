"""The one Gramian path of the gradient-combining methods (MGDA, Pareto MTL, PHN-EPO):
per-task gradients, their Gram matrix, and the weighted loss the loop steps on.

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

from trainers import loop, precision
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


def per_task_gradients(losses: torch.Tensor, params: list[torch.Tensor]
                       ) -> list[tuple[torch.Tensor | None, ...]]:
    """Per task, dL_t/d(params) (None where L_t does not reach a tensor), the graph kept."""
    return [torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            if loss.requires_grad else (None,) * len(params) for loss in losses]


def gradient_rows(per_task: list[tuple[torch.Tensor | None, ...]], params: list[torch.Tensor],
                  inputs: list[torch.Tensor]) -> torch.Tensor:
    """(m, P) matrix whose row t is task t's gradient (``per_task``, over ``params``)
    restricted to ``inputs`` and flattened in their order; zeros where it is None."""
    column = {id(p): i for i, p in enumerate(params)}
    return torch.stack([torch.cat([(grads[column[id(p)]] if grads[column[id(p)]] is not None
                                    else torch.zeros_like(p)).reshape(-1) for p in inputs])
                        for grads in per_task])


def flat_gradients(losses: torch.Tensor, inputs: list[torch.Tensor]) -> torch.Tensor:
    """(m, P) matrix whose row t is dL_t/d(inputs), flattened in the order of ``inputs``;
    a tensor a loss does not reach contributes zeros."""
    return gradient_rows(per_task_gradients(losses, inputs), inputs, inputs)


def task_gram(losses: torch.Tensor, inputs: list[torch.Tensor]) -> torch.Tensor:
    """C = G G^T of the per-task gradients over ``inputs`` in float64 (float32 sums over
    millions of products lose about 1e-4); the graph is kept for the weighted loss."""
    return gram_of(flat_gradients(losses, inputs))


def gram_of(rows: torch.Tensor) -> torch.Tensor:
    """G G^T in float64 of the (m, P) gradient rows."""
    flat = rows.double()
    return flat @ flat.T


def gram_losses(model: nn.Module, method, tasks: tuple[Task, ...], x: torch.Tensor,
                y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Task losses with graph and what their gradients are taken with respect to, as
    ``method.gram_inputs()`` names it: parameters, or the shared representation z (made a
    leaf without graph, so each L_t backpropagates through the heads only)."""
    source = method.gram_inputs()
    if source != "representation":
        return task_losses(model, method, tasks, x, y), parameter_set(model, source)
    with torch.no_grad():
        z = model.representation(x)
    z = z.detach().requires_grad_(True)
    losses = torch.stack([loop.task_loss(out, y[:, i], task)
                          for i, (out, task) in enumerate(zip(model.heads_from(z), tasks))])
    return losses, [z]


def forward_marks(model: nn.Module | None, device: torch.device) -> tuple:
    """What a forward pass can change besides its outputs: the random states it may draw
    from (dropout) and the version counters of the model's buffers (BatchNorm's running
    statistics; None: a model without buffers, as a pack's); host-side reads, no wait
    for the device."""
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states, [] if model is None else [b._version for b in model.buffers()]


def same_marks(before: tuple, after: tuple) -> bool:
    return after[1] == before[1] and all(torch.equal(a, b) for a, b in zip(after[0], before[0]))


def combined_loss(model: nn.Module, method, tasks: tuple[Task, ...], x: torch.Tensor,
                  y: torch.Tensor) -> torch.Tensor | None:
    """sum_t w_t L_t with w = ``method.weights_from_gram`` held constant; None where the
    method takes no step, the detached loss sum where every weight is zero (no step,
    but the loop still checks the losses). A method's fresh forward is skipped where the
    first forward drew no random number and changed no buffer: the same weights and batch
    then give the same losses and graph bit for bit, so that graph is reused."""
    marks = forward_marks(model, x.device) if method.fresh_forward else None
    losses, inputs = gram_losses(model, method, tasks, x, y)
    pure = marks is not None and same_marks(marks, forward_marks(model, x.device))
    # bf16, first forward reused: step on sum_t w_t g_t, without a third backward pass
    summed = (pure and precision.current().precision == "bf16"
              and method.gram_inputs() != "representation")
    if summed:
        params = parameter_set(model, "all")
        per_task = per_task_gradients(losses, params)
        rows = gradient_rows(per_task, params, inputs)
    else:
        rows = flat_gradients(losses, inputs)
    gram, plain = to_host(gram_of(rows), losses)
    weights = method.weights_from_gram(gram, plain)
    if weights is None:
        return None
    if not bool(weights.any()):
        return losses.detach().sum()
    # to the device before the fresh forward is queued: the copy waits for nothing
    weights = weights.detach().to(losses)
    if summed:
        return summed_gradient_loss(params, per_task, weights, losses)
    if (method.fresh_forward and not pure) or method.gram_inputs() == "representation":
        losses = task_losses(model, method, tasks, x, y)
    return torch.dot(weights, losses)


def summed_gradient_loss(params: list[torch.Tensor], per_task, weights: torch.Tensor,
                         losses: torch.Tensor) -> torch.Tensor:
    """A loss whose gradient is exactly sum_t w_t g_t of the task gradients ``per_task``
    (the weighted loss's gradient up to rounding, summed in float32) and whose value is
    sum_t w_t L_t; a parameter no task reaches keeps no gradient."""
    with torch.autocast(losses.device.type, enabled=False):
        surrogate = torch.zeros((), dtype=losses.dtype, device=losses.device)
        for i, p in enumerate(params):
            reached = [(t, grads[i]) for t, grads in enumerate(per_task) if grads[i] is not None]
            if reached:
                total = sum(weights[t] * g for t, g in reached)
                surrogate = surrogate + torch.sum(p * total.detach())
        return torch.dot(weights, losses.detach()) + (surrogate - surrogate.detach())


def to_host(gram: torch.Tensor, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The float64 Gram matrices (..., m, m) and the task losses (..., m), detached, on
    the host in one copy (one wait for the device per step); float32 losses become
    float64 exactly, wherever converted."""
    m = losses.shape[-1]
    both = torch.cat([gram.detach().flatten(-2), losses.detach().double()], dim=-1).cpu()
    return both[..., :m * m].unflatten(-1, (m, m)), both[..., m * m:]
