"""Analysis of stored points, apart from storage: fronts, reports and plots over matrices,
numpy columns and DataFrames (``store.queries`` gives them; nothing here queries SQL).

Modules: ``front`` (nondominated, hypervolume, compute_front), ``columns`` (named numpy
columns: what ``paretoctl front`` computes on, without pandas), ``report`` (methods
compared), ``plot`` (pictures of fronts) and ``format`` (the one formatter that renders
every read command as a table, CSV or JSON). Objective names and directions come from the
metric registry, ``contract.metrics``.
"""
