"""K copies of one network as one batched model (``torch.func``).

The members' parameters are stacked along a new leading *member* dimension
(``stack_module_state``); one forward is ``vmap`` over that dimension of a
``functional_call`` on a weightless copy of the architecture, so K networks run as one
batched network (batched matrix products, grouped convolutions). Members never mix: every
operation is per member, so the gradient of the sum of the members' losses is, member by
member, the gradient of that member's own loss.

The stacked tensors are the truth while training; each member also keeps its plain
network (``members``), which ``to_members`` / ``from_members`` copy to and from, so the
per-member pieces of the unpacked trial (prox, tying, checkpoints) run on a plain network
exactly as they do unpacked. Validation and the final evaluation are one batched forward
without autograd (``scores``).

On the CPU, for networks with 2-D convolutions, a scalarising step runs member by
member instead (``member_grads``, in fp32 and bf16): each member's forward and backward
is the unpacked trial's own, on leaves cut from its slot of the stack (in the fast path's
layout, under its autocast), and its gradients land in its slot of stacked gradients for
the batched optimiser. Its loss and gradients are then the trial's bit for bit, only one
member's activations are alive at a time, and it measured as fast as or faster than the
alternatives (8 LeNets or HPS nets on 36x36, batch 256): vmap runs the convolutions
grouped and copies activations between layouts (bf16: 1.6-1.9x slower; fp32: as fast on
2 threads, 12% slower on 1), and all members' forwards before one backward were no
faster. The gradient-combining methods need every member's per-task gradients at once
and keep ``objectives``: there the bf16 forward loops over the members (``member_loop``,
views of the stack, one backward per task), the fp32 one is vmapped.

Precision ``bf16`` is the trial's fast path (trainers/precision.py). Where the forward is
vmapped (CUDA, networks without convolutions) bf16 is done by hand: ``torch.autocast``
does not reach inside ``vmap`` (its dispatch key is skipped for batched tensors), so the
forward casts the float32 master weights and the input to bfloat16, which is what
autocast does for these networks' layers (convolutions and linear layers in bf16; ReLU,
pooling, MDMTN's alpha fusion follow their bf16 inputs), and the logits go back to
float32 for the losses. Either way the gradients, the optimiser state and the losses
stay float32.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch.func import functional_call, stack_module_state, vmap

from trainers.datasets import Split, Task
from trainers.loop import SplitScores, batches
from trainers.models import MultiTaskNet
from trainers.precision import choose, has_conv2d
from trainers.sparsity import growl_value


def member_loop(precision: str, model: MultiTaskNet, device: torch.device) -> bool:
    """Whether the bf16 forward of ``objectives`` (the gradient-combining methods' step)
    loops over the members (module docstring): on the CPU, for networks with 2-D
    convolutions."""
    return precision == "bf16" and device.type == "cpu" and has_conv2d(model)


def member_steps(model: MultiTaskNet, device: torch.device) -> bool:
    """Whether a scalarising step runs member by member, each member's forward and
    backward the unpacked trial's own (``member_grads``): on the CPU, for networks with
    2-D convolutions, in either precision (module docstring)."""
    return device.type == "cpu" and has_conv2d(model)


class StackedModel:
    """The members' networks as stacked leaf tensors ``params[name]`` of shape (K, ...);
    ``loop``: the forward loops over the members (None: as ``member_loop`` decides)."""

    def __init__(self, members: list[MultiTaskNet], precision: str = "fp32",
                 loop: bool | None = None) -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"a packed network computes in fp32 or bf16, not {precision!r}")
        params, buffers = stack_module_state(members)
        if buffers:  # packable() refuses these (BatchNorm statistics would need vmap state)
            raise ValueError("a packed network cannot have buffers")
        self.members, self.precision = members, precision
        self.params: dict[str, torch.Tensor] = params
        self.base = copy.deepcopy(members[0]).to("meta")
        self.eligible = [name for name, _ in members[0].eligible_weights()]
        self.shared = {name for name, _ in members[0].named_parameters()
                       if not name.startswith("heads.")}
        device = next(iter(params.values())).device
        self.loop = member_loop(precision, members[0], device) if loop is None else loop
        #: the unpacked trial's fast path, which a looped forward runs on
        self.path = choose(precision, members[0], device)
        #: whether a step runs member by member, forward and backward (``member_steps``)
        self.alone = member_steps(members[0], device)

    @property
    def size(self) -> int:
        return len(self.members)

    def compute(self, params: dict[str, torch.Tensor], x: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
        """One member's outputs on ``x`` in the pack's precision: float32 logits either way
        (in bf16 from bf16 weights and input: autocast by hand, see the module docstring)."""
        if self.precision == "bf16":
            params = {name: p.to(torch.bfloat16) for name, p in params.items()}
            outputs = functional_call(self.base, params, (x.to(torch.bfloat16),))
            return tuple(out.float() for out in outputs)
        return functional_call(self.base, params, (x,))

    def leaves(self, grad_set: str = "all") -> list[torch.Tensor]:
        """The stacked parameters, in the network's order (``shared``: outside the heads)."""
        return [p for name, p in self.params.items() if grad_set == "all" or name in self.shared]

    def objectives(self, groups: list[tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]],
                   tasks: tuple[Task, ...], sparsity: tuple[float, float] | None) -> torch.Tensor:
        """(K, 1 + m): per member (L0, L1..Lm) of its batch, as ``loop.objective_vector``
        computes it unpacked. ``groups``: (members, x, y) per batch that several members
        share (members None: every member); each group is one vmap whose input is shared,
        which keeps the first layer one wide convolution. L0 (the GrOWL value, spike
        weights ``sparsity``) is computed only when ``sparsity`` is given."""

        def member(params: dict[str, torch.Tensor], x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor:
            outputs = self.compute(params, x)
            losses = [task.loss(out, y[:, i]) for i, (out, task) in enumerate(zip(outputs, tasks))]
            l0 = self.sparsity_value(params, sparsity, x.device)
            return torch.stack([l0, *losses])

        if self.loop:
            return self.looped(groups, tasks, sparsity)
        shared = vmap(member, in_dims=(0, None, None))
        if len(groups) == 1 and groups[0][0] is None:
            return shared(self.params, groups[0][1], groups[0][2])
        parts, members = [], []
        for which, x, y in groups:
            parts.append(shared({name: p[which] for name, p in self.params.items()}, x, y))
            members.append(which)
        return torch.cat(parts)[torch.argsort(torch.cat(members))]

    def member_params(self, i: int) -> dict[str, torch.Tensor]:
        """Member i's weights as views of the stack, in the fast path's layout."""
        params = {name: p[i] for name, p in self.params.items()}
        if self.path.channels_last:
            # ``to``, not ``contiguous``: a one-channel kernel (LeNet's first) counts as
            # channels-last contiguous either way, and only ``to`` gives it the strides
            # ``Module.to`` gives the unpacked trial's (oneDNN's backward was 5x slower)
            params = {name: p.to(memory_format=torch.channels_last) if p.dim() == 4 else p
                      for name, p in params.items()}
        return params

    def looped(self, groups, tasks: tuple[Task, ...],
               sparsity: tuple[float, float] | None) -> torch.Tensor:
        """``objectives`` one member at a time, each as ``loop.step`` computes it unpacked
        (``loop.objective_vector`` under the fast path's autocast and layout)."""
        rows: list[torch.Tensor | None] = [None] * self.size
        for which, x, y in groups:
            x = self.path.batch(x)
            for i in range(self.size) if which is None else which.tolist():
                params = self.member_params(i)
                with self.path.autocast():
                    outputs = functional_call(self.base, params, (x,))
                    losses = [task.loss(out, y[:, t])
                              for t, (out, task) in enumerate(zip(outputs, tasks))]
                    l0 = self.sparsity_value(params, sparsity, x.device)
                rows[i] = torch.stack([l0, *losses])
        return torch.stack(rows)  # type: ignore[arg-type]

    def sparsity_value(self, params: dict[str, torch.Tensor],
                       sparsity: tuple[float, float] | None,
                       device: torch.device) -> torch.Tensor:
        """L0 of one member's weights ``params``: their GrOWL value with spike weights
        ``sparsity`` (beta1, beta2), or 0 where the step has no sparsity term."""
        if sparsity is None:
            return torch.zeros((), device=device)
        return growl_value([params[name] for name in self.eligible], *sparsity, device=device)

    def member_grads(self, i: int, x: torch.Tensor, y: torch.Tensor, tasks: tuple[Task, ...],
                     sparsity: tuple[float, float] | None,
                     loss_of: Callable[[torch.Tensor, list[torch.Tensor]], torch.Tensor],
                     extras: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
        """Member i's own step on its batch (``x`` already in the path's layout), as
        ``loop.step`` computes it unpacked: its forward on its own weights (leaves cut from
        the stack, in the fast path's layout, under its autocast), ``loss_of(objectives,
        extra leaves)`` with member i's slot of each stacked method variable in ``extras``,
        and one backward; each gradient lands in slot i of ``grads`` (the stacked weights',
        then the extras'). Returns the loss, detached."""
        params = {name: self.layout(p[i].detach()).requires_grad_() for name, p in
                  self.params.items()}
        own = [e[i].detach().requires_grad_() for e in extras]
        with self.path.autocast():
            outputs = functional_call(self.base, params, (x,))
            losses = [task.loss(out, y[:, t]) for t, (out, task) in enumerate(zip(outputs, tasks))]
            l0 = self.sparsity_value(params, sparsity, x.device)
            loss = loss_of(torch.stack([l0, *losses]), own)
        leaves = list(params.values()) + own
        for grad, target in zip(torch.autograd.grad(loss, leaves, allow_unused=True), grads):
            if grad is None:
                target[i].zero_()
            else:
                target[i].copy_(grad)
        return loss.detach()

    def layout(self, p: torch.Tensor) -> torch.Tensor:
        """A member's weight in the fast path's layout (``member_params``)."""
        if self.path.channels_last and p.dim() == 4:
            return p.to(memory_format=torch.channels_last)
        return p

    @torch.no_grad()
    def scores(self, which: list[int], split: Split, tasks: tuple[Task, ...],
               batch_size: int) -> list[SplitScores]:
        """``loop.evaluate`` of members ``which`` on ``split``, as one batched forward per
        batch: per member and task the float32 loss sum of each batch added in float64 and
        the hit count, crossing to the host once. Equals the per-member evaluation within
        float32 rounding (the batched kernels sum in another order)."""
        index = torch.tensor(which, device=split.x.device)
        params = {name: p[index] for name, p in self.params.items()}

        def member(params: dict[str, torch.Tensor], x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            losses, hits = [], []
            for i, (out, task) in enumerate(zip(self.compute(params, x), tasks)):
                losses.append(task.loss(out, y[:, i], reduction="sum").double())
                count = task.n_correct(out, y[:, i])
                hits.append(torch.zeros((), dtype=torch.float64, device=x.device)
                            if count is None else torch.as_tensor(count).double())
            return torch.stack(losses), torch.stack(hits)

        batched = vmap(member, in_dims=(0, None, None))
        loss_sums = torch.zeros(len(which), len(tasks), dtype=torch.float64, device=split.x.device)
        correct = torch.zeros_like(loss_sums)  # exact: counts stay far below 2**53
        for x, y in batches(split, batch_size, None):
            losses, hits = batched(params, x, y)
            loss_sums += losses
            correct += hits
        loss_sums, correct = loss_sums.cpu(), correct.cpu()  # the one transfer
        n = len(split)
        return [SplitScores((loss_sums[k] / n).tolist(),
                            [float(correct[k, i] / n) if task.has_accuracy else None
                             for i, task in enumerate(tasks)], n)
                for k in range(len(which))]

    @torch.no_grad()
    def to_members(self, which: list[int]) -> None:
        """Copy the stacked weights of members ``which`` into their plain networks."""
        for i in which:
            for name, param in self.members[i].named_parameters():
                param.copy_(self.params[name][i])

    @torch.no_grad()
    def from_members(self, which: list[int]) -> None:
        """Copy the plain networks of members ``which`` back into the stack."""
        for i in which:
            for name, param in self.members[i].named_parameters():
                self.params[name][i].copy_(param)
