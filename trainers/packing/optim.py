"""One optimiser per member over stacked tensors, and the shared learning-rate schedule.

Adam and SGD act elementwise, so one update of a stacked tensor is K independent updates.
What is per member is what a step *skips*: a member that takes no step (Pareto MTL once
feasible, a gradient-combining method whose weights are all zero, a member that failed)
keeps its weights, moments and step count, exactly as its own ``torch.optim`` optimiser
would when the loop does not call ``step``; so Adam's bias correction counts each
member's own steps. The arithmetic follows ``torch.optim.Adam`` / ``SGD`` (single-tensor
form, no weight decay) operation by operation and kernel by kernel (a fused multiply-add
rounds once), so given the same gradients a member's weights are its own optimiser's bit
for bit.
"""
from __future__ import annotations

import torch

from trainers.settings import TrainSettings

BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, as loop.make_optimizer leaves them
EPS = 1e-8


def per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(K,) values shaped to broadcast over a stacked tensor ``like`` (K, ...)."""
    return values.to(like).reshape((-1,) + (1,) * (like.ndim - 1))


class PackedOptimizer:
    """``settings.optimizer`` (adam | sgd) over ``tensors`` (K, ...), stepped per member."""

    def __init__(self, settings: TrainSettings, tensors: list[torch.Tensor], size: int) -> None:
        if settings.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {settings.optimizer!r} (known: adam, sgd)")
        self.kind, self.momentum = settings.optimizer, float(settings.momentum)
        self.tensors = tensors
        # each member's step count, and the factors made of it, live on the device: a
        # step copies nothing from the host (only a new value of the host's mask)
        self.steps = torch.zeros(size, dtype=torch.float64, device=tensors[0].device)
        self.moments = [(torch.zeros_like(t), torch.zeros_like(t)) for t in tensors]
        self.masks: dict[tuple[bool, ...], torch.Tensor] = {}

    def on_device(self, stepping: torch.Tensor) -> torch.Tensor:
        """The (host) member mask on the device, copied once per distinct value."""
        key = tuple(stepping.tolist())
        if key not in self.masks:
            self.masks[key] = stepping.to(self.steps.device)
        return self.masks[key]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor | None], lr: float, stepping: torch.Tensor) -> None:
        """One step at learning rate ``lr`` for the members where ``stepping`` (K,) is
        True; a None gradient (a tensor the loss does not reach) counts as zero."""
        if not bool(stepping.any()):
            return
        everyone = bool(stepping.all())
        mask = self.on_device(stepping)
        steps = self.steps + mask.to(self.steps)
        # per-member factors, computed once per step in float64 as torch's Python floats
        beta1, beta2 = BETAS
        counted = steps.clamp(min=1.0)   # members still at 0 steps are masked out below
        factors = {"step_size": lr / (1.0 - beta1 ** counted),
                   "bias2_sqrt": (1.0 - beta2 ** counted).sqrt(),
                   "first": steps == 1.0, "stepping": mask}
        for tensor, grad, (first, second) in zip(self.tensors, grads, self.moments):
            grad = torch.zeros_like(tensor) if grad is None else grad
            if self.kind == "adam":
                new, m, v = self.adam(tensor, grad, first, second, factors, lr)
            else:
                new, m, v = self.sgd(tensor, grad, first, factors, lr)
            for target, value in ((tensor, new), (first, m), (second, v)):
                if value is None:
                    continue
                if not everyone:
                    keep = per_member(factors["stepping"], tensor).bool()
                    value = torch.where(keep, value, target)
                target.copy_(value)
        self.steps = torch.where(mask, steps, self.steps)

    @staticmethod
    def adam(param, grad, exp_avg, exp_avg_sq, factors, lr):
        beta1, beta2 = BETAS
        step_size = per_member(factors["step_size"], param)
        bias2_sqrt = per_member(factors["bias2_sqrt"], param)
        m = exp_avg.lerp(grad, 1.0 - beta1)
        # addcmul, as torch's Adam: its kernel may fuse the multiply-add (another rounding)
        v = torch.addcmul(exp_avg_sq * beta2, grad, grad, value=1.0 - beta2)
        denom = v.sqrt() / bias2_sqrt + EPS
        return param + (-step_size) * m / denom, m, v

    def sgd(self, param, grad, buf, factors, lr):
        # add with alpha, as torch's SGD: its kernel may fuse the multiply-add
        if self.momentum == 0.0:
            return torch.add(param, grad, alpha=-lr), None, None
        first = per_member(factors["first"], param).bool()
        buf = torch.where(first, grad, buf * self.momentum + grad)
        return torch.add(param, buf, alpha=-lr), buf, None


class LearningRate:
    """The stage's schedule, shared by every member: ``lr_decay`` per iteration
    (``torch.optim.lr_scheduler.ExponentialLR``, stepped after every iteration)."""

    def __init__(self, settings: TrainSettings) -> None:
        self.value, self.gamma = float(settings.lr), float(settings.lr_decay)

    def step(self) -> None:
        self.value = self.value * self.gamma
