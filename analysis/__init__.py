"""Analysis of stored points, apart from storage: fronts, reports and plots over matrices
and DataFrames (``store.queries.load_points`` gives the frames; nothing here queries SQL).

Modules: ``front`` (nondominated, hypervolume, compute_front), ``report`` (methods
compared), ``plot`` (pictures of fronts) and ``format`` (the one formatter that renders
every read command as a table, CSV or JSON). Objective names and directions come from the
metric registry, ``contract.metrics``.
"""
