"""Pareto HyperNetwork (Navon et al.): a network that emits another network's weights.

The hypernetwork maps a ray r (J task weights) to every weight of a *target* network
(docs/methods/front_learning.md#hypernetwork): a ray MLP J -> 100 -> 100 -> 100 (ReLU
between the layers, none after the last) gives a 100-d embedding h, and one linear layer
per target tensor maps h to that tensor's entries (no chunking), reshaped to the tensor's
shape. Only the hypernetwork is trained; the target is run with the generated weights
through ``torch.func.functional_call``, so gradients reach the hypernetwork. One ray is set
per mini-batch, so the whole batch shares one generated weight set.

The target is the sweep's architecture, built as usual; its parameters are turned into
empty placeholders (non-persistent buffers), so it trains nothing, stores nothing and
counts nothing, while its real buffers (BatchNorm statistics) stay its own. For the
Pareto MTL LeNet (``lenet_pmtl``, the PHN paper's target shapes, 31,910 weights) this
gives the paper's 3,243,410 hypernetwork parameters; for the fairness ``mlp`` on Adult
716,491. (The PHN target has no ReLU after its 50-d hidden layer, ``lenet_pmtl`` has
one; the sweep's architecture is used as it is.)

Metrics describe the hypernetwork, the model that is trained and stored: parameter
counts are its trainable parameters (the papers count PHN as "3,243k"), SR/CR/PS and the
GrOWL value are over its weight matrices. ``eligible_weights`` leaves out the ray MLP's
input layer (it reads the raw ray) and the generators of the target's task heads (the
task-specific outputs), mirroring the rule for ordinary networks; ``shared_parameters``
is every hypernetwork parameter except those head generators.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call

from trainers.models.base import MultiTaskNet

#: width of the ray embedding and the ray MLP's hidden layers (the paper's 100)
RAY_HIDDEN = 100


def ray_mlp(n_tasks: int, hidden: int = RAY_HIDDEN) -> nn.Sequential:
    """J -> hidden -> hidden -> hidden, ReLU between layers, none at the end."""
    return nn.Sequential(nn.Linear(n_tasks, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden))


def strip_parameters(module: nn.Module) -> dict[str, torch.Size]:
    """Replace every parameter of ``module`` by an empty placeholder buffer; returns the
    parameters' names and shapes (the weights a generator must emit)."""
    shapes = {name: param.shape for name, param in module.named_parameters()}
    for sub in module.modules():
        for name in [n for n, p in sub._parameters.items() if p is not None]:
            del sub._parameters[name]
            sub.register_buffer(name, torch.empty(0), persistent=False)
    return shapes


class ParetoHyperNet(MultiTaskNet):
    """Ray -> target weights -> target(x). ``set_ray`` picks the ray of later forwards."""

    def __init__(self, target: MultiTaskNet, n_tasks: int, hidden: int = RAY_HIDDEN) -> None:
        super().__init__()
        self.shapes = strip_parameters(target)
        self.target_names = list(self.shapes)
        self.target = target
        self.ray_mlp = ray_mlp(n_tasks, hidden)
        self.generators = nn.ModuleList(nn.Linear(hidden, shape.numel())
                                        for shape in self.shapes.values())
        self.register_buffer("ray", torch.full((n_tasks,), 1.0 / n_tasks), persistent=False)

    def set_ray(self, ray: Sequence[float] | torch.Tensor) -> None:
        """Generate the target's weights from ``ray`` in every following forward pass."""
        self.ray = torch.as_tensor(ray, dtype=self.ray.dtype, device=self.ray.device).clone()

    def generate(self, ray: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The target's weights for ``ray`` (default: the current ray), by name."""
        h = self.ray_mlp(self.ray if ray is None else ray)
        return {name: gen(h).view(self.shapes[name])
                for name, gen in zip(self.target_names, self.generators)}

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return functional_call(self.target, self.generate(), (x,))

    def _is_head(self, target_name: str) -> bool:
        return target_name.startswith("heads.")

    def all_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        for name, param in self.named_parameters():
            if param.ndim >= 2:
                yield name, param

    def eligible_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        for index, (name, gen) in enumerate(zip(self.target_names, self.generators)):
            if not self._is_head(name):
                yield f"generators.{index}.weight", gen.weight
        for name, param in self.ray_mlp.named_parameters():
            if param.ndim >= 2 and name != "0.weight":
                yield f"ray_mlp.{name}", param

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        yield from self.ray_mlp.parameters()
        for name, gen in zip(self.target_names, self.generators):
            if not self._is_head(name):
                yield from gen.parameters()
