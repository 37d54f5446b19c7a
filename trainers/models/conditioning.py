"""COSMOS input-space fusion: the network sees the preference ray as extra input.

COSMOS (Ruchte & Grabocka) trains one network f(x, r) for every ray r by feeding r in
with the input (docs/methods/front_learning.md#input-fusion):

- images (C, H, W): r, viewed as (J, 1, 1), goes through two transposed convolutions
  without bias (J -> J, kernel 4, stride 1, then J -> J, kernel 6, stride 2, padding 1),
  each followed by ReLU, giving J x 10 x 10 maps that are upsampled (nearest) to H x W
  and concatenated to the image: the backbone reads C + J channels. On 1 x 36 x 36 with
  J = 2 and ``lenet`` that is 208 + 42,850 = 43,058 parameters (the paper's "43k").
- feature vectors (d,): r is appended unchanged; the backbone reads d + J features.

The ray is the same for the whole batch (one ray per mini-batch while training, one
test ray per evaluation), so it is held in the wrapper (``set_ray``) rather than passed
with every sample; ``forward(x)`` keeps the MultiTaskNet signature.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from trainers import precision
from trainers.models.base import MultiTaskNet


class RayMaps(nn.Module):
    """Ray (J,) -> J feature maps of size H x W (the paper's transposed CNN)."""

    def __init__(self, n_tasks: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(n_tasks, n_tasks, kernel_size=4, stride=1, padding=0, bias=False),
            nn.ReLU(),
            nn.ConvTranspose2d(n_tasks, n_tasks, kernel_size=6, stride=2, padding=1, bias=False),
            nn.ReLU(),
        )
        self.size = tuple(size)

    def forward(self, ray: torch.Tensor) -> torch.Tensor:
        maps = self.layers(ray.view(1, -1, 1, 1))                 # (1, J, 10, 10)
        return F.interpolate(maps, size=self.size, mode="nearest")  # (1, J, H, W)


class RayConditionedNet(MultiTaskNet):
    """A backbone built for C + J input channels (or d + J features), fed the input fused
    with the current ray. Metrics and GrOWL see the backbone's weights under their usual
    rules plus the ray CNN (its first layer reads the raw ray, so it is an input layer)."""

    def __init__(self, build: Callable[[tuple[int, ...]], MultiTaskNet],
                 input_shape: Sequence[int], n_tasks: int) -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 3:
            self.ray_maps: RayMaps | None = RayMaps(n_tasks, shape[1:])
            fused = (shape[0] + n_tasks, *shape[1:])
        elif len(shape) == 1:
            self.ray_maps = None
            fused = (shape[0] + n_tasks,)
        else:
            raise ValueError(f"COSMOS conditions images (C, H, W) or feature vectors (d,), "
                             f"not inputs of shape {shape}")
        self.backbone = build(fused)
        self.register_buffer("ray", torch.full((n_tasks,), 1.0 / n_tasks), persistent=False)

    def set_ray(self, ray: Sequence[float] | torch.Tensor) -> None:
        """Condition every following forward pass on ``ray`` (J task weights)."""
        self.ray = torch.as_tensor(ray, dtype=self.ray.dtype, device=self.ray.device).clone()

    def fuse(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's input: ``x`` with the ray channels (or features) appended."""
        extra = self.ray.view(1, -1) if self.ray_maps is None else self.ray_maps(self.ray)
        extra = extra.to(x.dtype).expand(x.shape[0], *extra.shape[1:])
        # in the fast path's layout (channels-last with bf16): cat makes NCHW, which the
        # first convolution would reorder forward and backward
        return precision.current().batch(torch.cat([x, extra], dim=1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(self.fuse(x))

    @property
    def heads(self) -> nn.ModuleList:  # type: ignore[override]
        return self.backbone.heads

    def all_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        yield from self._ray_weights()
        for name, weight in self.backbone.all_weights():
            yield f"backbone.{name}", weight

    def eligible_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        for name, weight in list(self._ray_weights())[1:]:  # the first reads the raw ray
            yield name, weight
        for name, weight in self.backbone.eligible_weights():
            yield f"backbone.{name}", weight

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        if self.ray_maps is not None:
            yield from self.ray_maps.parameters()
        yield from self.backbone.shared_parameters()

    def _ray_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        if self.ray_maps is not None:
            for name, param in self.ray_maps.named_parameters():
                yield f"ray_maps.{name}", param
