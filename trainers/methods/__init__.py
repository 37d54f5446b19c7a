"""Method registry: ``methods: [{name: wc_al}]`` in a sweep names an entry here.

A method is one module with one :class:`~trainers.methods.base.Method` subclass that says
what loss one step of the loop minimises: a scalar of the objectives (L0 = sparsity,
L1..Lm = task losses; ``ScalarisingMethod.loss``) or task weights from the tasks' Gram
matrix (``GradientCombiningMethod.weights_from_gram``), and what it updates between
iterations.
"""
from trainers.methods.base import Method
from trainers.registry import Registry

METHODS: Registry[type[Method]] = Registry("method")

from trainers.methods import linear, wc_al, uniform, stl, mgda, pmtl, cosmos, phn, kdmtl, mtan  # noqa: E402,F401  (register built-ins)

__all__ = ["METHODS", "Method"]
