"""Method registry: ``methods: [{name: wc_al}]`` in a sweep names an entry here.

A method is one module with one :class:`~trainers.methods.base.Method` subclass that says
what loss one step of the loop minimises: a scalar of the objectives (L0 = sparsity,
L1..Lm = task losses; ``ScalarisingMethod.loss``) or task weights from the tasks' Gram
matrix (``GradientCombiningMethod.weights_from_gram``), and what it updates between
iterations. Every module of this package is imported here, so a method's module registers
itself: adding a method is adding its module (and its presets rows), with no list to extend.
"""
import importlib
import pkgutil

from trainers.methods.base import Method
from trainers.registry import Registry

METHODS: Registry[type[Method]] = Registry("method")


def import_methods() -> None:
    """Import every module of the package (once each), which registers its methods."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


import_methods()

__all__ = ["METHODS", "Method", "import_methods"]
