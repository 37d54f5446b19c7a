"""The methods' steps over a pack: the loss of every member at once, and the batched
method state (WC-AL's t, lambda, mu; the Gram-based methods' per-member weights).

A scalarising method's loss is its pure ``scalarise(objectives, preference, state)``
under ``vmap``; a gradient-combining method gets each member's Gram matrix from one
backward per task of the task loss summed over members (members are independent), then
each member's own ``weights_from_gram`` (float64 on the CPU, as unpacked: MGDA's alpha,
Pareto MTL's phase, reference rays and counters stay on the member's method object).

``losses`` returns what the loop steps on, as four (K,) tensors: the losses (with graph;
None where no member steps), which members step, the detached losses the divergence
check sums, and which members report one. Where the pack steps member by member (the
CPU's convolutional networks, trainers/packing/stacked.py), a scalarising method gives
each member's loss alone (``member_loss``) and ``member_steps`` returns the gradients.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch.func import vmap

from trainers import loop
from trainers.datasets import Task
from trainers.methods import Method
from trainers.methods.base import GradientCombiningMethod, ScalarisingMethod
from trainers.methods import task_gradients
from trainers.methods.task_gradients import to_host
from trainers.methods.wc_al import ALState, WeightedChebyshevAL, al_loss, multiplier_step, \
    wc_constraints
from trainers.packing.stacked import StackedModel


class StepLosses(NamedTuple):
    loss: torch.Tensor | None   # (K,) with graph
    stepping: torch.Tensor      # (K,) bool, on the CPU (decided there: no device sync)
    report: torch.Tensor        # (K,) detached
    reported: torch.Tensor      # (K,) bool, on the CPU


class PackedMethod:
    """The members' method objects, and what their step shares."""

    def __init__(self, methods: list[Method], pack: StackedModel, tasks: tuple[Task, ...]) -> None:
        self.methods, self.pack, self.tasks = methods, pack, tasks
        device = next(iter(pack.params.values())).device
        self.k = torch.stack([m.k for m in methods]).to(device)
        first = methods[0]
        sparse = any(m.uses_sparsity for m in methods)
        self.sparsity = (first.params["beta1"], first.params["beta2"]) if sparse else None
        #: members whose own step code raised in the last ``losses`` (the loop fails them)
        self.failed: dict[int, Exception] = {}
        self.grads: list[torch.Tensor] | None = None

    @property
    def alone(self) -> bool:
        """Whether the method gives each member's loss alone (a ``member_loss(i,
        objectives, own)`` method: member i's loss from its (1 + m,) objectives and its
        slots of the stacked method variables), which ``member_steps`` needs."""
        return callable(getattr(self, "member_loss", None))

    def member_steps(self, groups, members: list[list[int]], active: torch.Tensor
                     ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every active member's own forward and backward (``StackedModel.member_grads``)
        on its group's batch (``members``: each group's members, on the host):
        the gradients of the stacked tensors (weights, then method variables; a slot of a
        member that took no step holds stale values the optimiser masks out) and the (K,)
        detached losses. A member whose step raises is in ``failed``."""
        extras = self.stage_hooks().parameters
        if self.grads is None:
            self.grads = [torch.zeros_like(t) for t in self.pack.leaves() + extras]
        reports: dict[int, torch.Tensor] = {}
        for (_, x, y), which in zip(groups, members):
            x = self.pack.path.batch(x)
            for i in which:
                if not active[i]:
                    continue
                try:
                    reports[i] = self.pack.member_grads(
                        i, x, y, self.tasks, self.sparsity,
                        lambda o, own, i=i: self.member_loss(i, o, own), extras, self.grads)
                except Exception as exc:  # noqa: BLE001 - this member fails alone
                    self.failed[i] = exc
        zero = torch.zeros((), device=self.k.device)
        report = torch.stack([reports.get(i, zero) for i in range(self.pack.size)])
        return self.grads, report

    def objectives(self, groups) -> torch.Tensor:
        return self.pack.objectives(groups, self.tasks, self.sparsity)

    def stage_hooks(self) -> loop.StageHooks:
        """``Method.stage_hooks`` over the pack: stacked variables trained with the
        weights, hooks before every epoch and after every iteration; none by default."""
        return loop.StageHooks()

    def to_members(self, which: list[int]) -> None:
        """Write the batched state into the members' method objects (for ``state()``,
        checkpoints and the record)."""

    def from_members(self, which: list[int]) -> None:
        """Read back what a member's checkpoint restored (WC-AL's t)."""


class PackedScalarising(PackedMethod):
    """linear, uniform: ``scalarise`` under vmap (no state)."""

    def losses(self, groups, active: torch.Tensor) -> StepLosses:
        objectives = self.objectives(groups)
        scalarise = type(self.methods[0]).scalarise
        loss = vmap(lambda o, k: scalarise(o, k, None))(objectives, self.k)
        return StepLosses(loss, active, loss.detach(), active)

    def member_loss(self, i, objectives, own):
        return type(self.methods[0]).scalarise(objectives, self.k[i], None)


class PackedWcAl(PackedMethod):
    """WC-AL with its state batched: t (K,) trained with the weights, lambda (K, m+1),
    mu (K,) in float64 (a Python float unpacked), the constraint sums of the epoch."""

    def __init__(self, methods, pack, tasks) -> None:
        super().__init__(methods, pack, tasks)
        first: WeightedChebyshevAL = methods[0]
        self.a, self.eps = first.a, float(first.params["eps"])
        self.rho, self.mu_max = float(first.params["rho"]), float(first.params["mu_max"])
        self.lam0 = torch.stack([m.lam0 for m in methods])
        device = self.k.device
        self.mu0 = torch.tensor([float(m.params["mu0"]) for m in methods], dtype=torch.float64,
                                device=device)
        self.t = torch.stack([m.t.detach() for m in methods]).requires_grad_(True)
        self.lam = torch.stack([m.lam for m in methods])
        self.mu = torch.tensor([m.mu for m in methods], dtype=torch.float64, device=device)
        self.iterations = 0
        self.begin_epoch()

    def stage_hooks(self) -> loop.StageHooks:
        return loop.StageHooks(parameters=[self.t], before_epoch=[self.begin_epoch],
                               after_iteration=[self.end_iteration])

    def losses(self, groups, active: torch.Tensor) -> StepLosses:
        objectives = self.objectives(groups)
        a, eps = self.a, self.eps
        h = vmap(lambda o, k, t: wc_constraints(o, k, a, eps, t))(
            objectives.detach(), self.k, self.t.detach())
        self.h_sum += h   # observe: the epoch's constraint average (Hbar)
        self.h_batches += 1
        mu = self.mu.to(objectives.dtype)   # the float32 a Python float becomes in the kernels
        loss = vmap(lambda o, k, t, lam, m: al_loss(o, k, a, eps, ALState(t, lam, m)))(
            objectives, self.k, self.t, self.lam, mu)
        return StepLosses(loss, active, loss.detach(), active)

    def member_loss(self, i, objectives, own):
        a, eps = self.a, self.eps
        self.h_sum[i] += wc_constraints(objectives.detach(), self.k[i], a, eps, own[0].detach())
        mu = self.mu[i].to(objectives.dtype)
        return al_loss(objectives, self.k[i], a, eps, ALState(own[0], self.lam[i], mu))

    def member_steps(self, groups, members, active):
        self.h_batches += 1
        return super().member_steps(groups, members, active)

    def begin_epoch(self) -> None:
        self.h_sum = torch.zeros_like(self.lam)
        self.h_batches = 0

    def end_iteration(self) -> None:
        """lambda <- max(0, lambda + mu Hbar); mu <- min(rho mu, mu_max) (in float64)."""
        if self.h_batches:
            mu = self.mu.to(self.lam.dtype)[:, None]
            self.lam = multiplier_step(self.lam, mu, self.h_sum / self.h_batches)
        self.mu = torch.clamp(self.mu * self.rho, max=self.mu_max)
        self.iterations += 1

    def restart(self) -> None:
        self.lam = self.lam0.clone()
        self.mu = self.mu0.clone()
        self.begin_epoch()

    @torch.no_grad()
    def to_members(self, which: list[int]) -> None:
        mus = self.mu.tolist()  # one read of the device, not one per member
        for i in which:
            method = self.methods[i]
            method.t.copy_(self.t[i])
            method.lam = self.lam[i].clone()
            method.mu = mus[i]
            method.iterations = self.iterations

    @torch.no_grad()
    def from_members(self, which: list[int]) -> None:
        for i in which:
            self.t[i] = self.methods[i].t.detach()


class PackedGradientCombining(PackedMethod):
    """mgda, pmtl: per-member Gram matrices from one backward per task, then each member's
    ``weights_from_gram``; the weighted loss over the pack, on the first forward's graph
    where a fresh forward would repeat it exactly (no random draw; a pack has no buffers),
    as an unpacked trial's step (``task_gradients.combined_loss``)."""

    def __init__(self, methods, pack, tasks) -> None:
        super().__init__(methods, pack, tasks)
        self.grad_set = methods[0].gram_inputs()
        if self.grad_set not in ("shared", "all"):
            raise ValueError(f"a packed {methods[0].name} needs gradients over parameters, "
                             f"not the {self.grad_set}")

    def gram(self, task_losses: torch.Tensor) -> torch.Tensor:
        """(K, m, m) float64 Gram matrices of the per-task gradients, member by member
        over one fixed parameter list (zeros where a task does not reach a tensor)."""
        inputs = self.pack.leaves(self.grad_set)
        size = self.pack.size
        rows = []
        for t in range(task_losses.shape[1]):
            grads = torch.autograd.grad(task_losses[:, t].sum(), inputs, retain_graph=True,
                                        allow_unused=True)
            rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(size, -1)
                                   for g, p in zip(grads, inputs)], dim=1))
        flat = torch.stack(rows, dim=1).double()
        return flat @ flat.transpose(1, 2)

    def losses(self, groups, active: torch.Tensor) -> StepLosses:
        fresh = self.methods[0].fresh_forward
        device = groups[0][1].device
        marks = task_gradients.forward_marks(None, device) if fresh else None
        task_losses = self.objectives(groups)[:, 1:]
        if fresh:
            fresh = not task_gradients.same_marks(marks, task_gradients.forward_marks(None, device))
        gram, plain = to_host(self.gram(task_losses), task_losses)   # one wait per step
        size = self.pack.size
        weights = torch.zeros(size, task_losses.shape[1], dtype=torch.float64)
        stepping = torch.zeros(size, dtype=torch.bool)
        reported = torch.zeros(size, dtype=torch.bool)
        for i in torch.nonzero(active.cpu()).flatten().tolist():
            method: GradientCombiningMethod = self.methods[i]
            try:
                w = method.weights_from_gram(gram[i], plain[i])
            except Exception as exc:  # noqa: BLE001 - this member fails alone
                self.failed[i] = exc
                continue
            if w is None:          # no step, nothing reported
                continue
            reported[i] = True
            if bool(w.any()):
                weights[i], stepping[i] = w.detach(), True
        report = task_losses.detach().sum(dim=1)
        loss = None
        if bool(stepping.any()):
            # one copy to the device, before the fresh forward is queued; a member steps
            # exactly where its weights are not all zero
            weights = weights.to(task_losses)
            if fresh:
                task_losses = self.objectives(groups)[:, 1:]
            loss = vmap(torch.dot)(weights, task_losses)
            report = torch.where(weights.ne(0).any(dim=1), loss.detach(), report)
        return StepLosses(loss, stepping, report, reported)


def packed_method(methods: list[Method], pack: StackedModel, tasks) -> PackedMethod:
    if isinstance(methods[0], WeightedChebyshevAL):
        return PackedWcAl(methods, pack, tasks)
    if isinstance(methods[0], GradientCombiningMethod):
        return PackedGradientCombining(methods, pack, tasks)
    if isinstance(methods[0], ScalarisingMethod):
        return PackedScalarising(methods, pack, tasks)
    raise ValueError(f"method {methods[0].name} does not pack")
