"""Stable import path of the front computations; the code lives in ``analysis.front``.

``store.front.nondominated`` and ``store.front.hypervolume`` are documented entry points
(and the benchmarks use them), so they stay importable from here.
"""
from analysis.front import hypervolume, nondominated

__all__ = ["hypervolume", "nondominated"]
