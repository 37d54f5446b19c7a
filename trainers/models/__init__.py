"""Architecture registry: ``architectures: [hps]`` in a sweep names an entry here.

An architecture is a builder ``build(tasks, input_shape, dataset, options) -> MultiTaskNet``
registered under its name; methods never depend on which architecture they train.
"""
from trainers.models.base import MultiTaskNet
from trainers.registry import Registry

ARCHITECTURES: Registry = Registry("architecture")

from trainers.models import hps, kdmtl, lenet, mdmtn, mtan, resnet, stl  # noqa: E402,F401  (register built-ins)

from trainers.models import direct  # noqa: E402,F401  (closed-form problems: x is the model)

__all__ = ["ARCHITECTURES", "MultiTaskNet"]
