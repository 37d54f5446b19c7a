"""K copies of one network as one batched model (``torch.func``).

The members' parameters are stacked along a new leading *member* dimension
(``stack_module_state``); one forward is ``vmap`` over that dimension of a
``functional_call`` on a weightless copy of the architecture, so K networks run as one
batched network (batched matrix products, grouped convolutions). Members never mix: every
operation is per member, so the gradient of the sum of the members' losses is, member by
member, the gradient of that member's own loss.

The stacked tensors are the truth while training; each member also keeps its plain
network (``members``), which ``to_members`` / ``from_members`` copy to and from, so the
per-member pieces of the unpacked trial (prox, tying, validation, checkpoints,
evaluation) run on a plain network exactly as they do unpacked.
"""
from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from trainers.datasets import Task
from trainers.models import MultiTaskNet
from trainers.sparsity import growl_value


class StackedModel:
    """The members' networks as stacked leaf tensors ``params[name]`` of shape (K, ...)."""

    def __init__(self, members: list[MultiTaskNet]) -> None:
        params, buffers = stack_module_state(members)
        if buffers:  # packable() refuses these (BatchNorm statistics would need vmap state)
            raise ValueError("a packed network cannot have buffers")
        self.members = members
        self.params: dict[str, torch.Tensor] = params
        self.base = copy.deepcopy(members[0]).to("meta")
        self.eligible = [name for name, _ in members[0].eligible_weights()]
        self.shared = {name for name, _ in members[0].named_parameters()
                       if not name.startswith("heads.")}

    @property
    def size(self) -> int:
        return len(self.members)

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
            outputs = functional_call(self.base, params, (x,))
            losses = [task.loss(out, y[:, i]) for i, (out, task) in enumerate(zip(outputs, tasks))]
            if sparsity is not None:
                l0 = growl_value([params[name] for name in self.eligible], *sparsity)
            else:
                l0 = torch.zeros((), device=x.device)
            return torch.stack([l0, *losses])

        shared = vmap(member, in_dims=(0, None, None))
        if len(groups) == 1 and groups[0][0] is None:
            return shared(self.params, groups[0][1], groups[0][2])
        parts, members = [], []
        for which, x, y in groups:
            parts.append(shared({name: p[which] for name, p in self.params.items()}, x, y))
            members.append(which)
        return torch.cat(parts)[torch.argsort(torch.cat(members))]

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
