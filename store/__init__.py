"""paretoctl results store: schema, connection, writes, queries and Pareto fronts.

Modules: ``db`` (open_store, Store, StoreError), ``schema`` (ORM tables and the
``points_flat`` view), ``writes`` (register/add/mark/record), ``payload``
(validation of orchestrator and trainer dicts), ``queries`` (load_points,
list_trials) and ``front`` (nondominated, hypervolume, compute_front). Nothing
is imported here so that ``import store`` stays cheap for the CLI.
"""
