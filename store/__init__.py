"""paretoctl results store: schema, connection, writes and queries.

Modules: ``db`` (open_store, Store, StoreError), ``schema`` (ORM tables and the
``points_flat`` view), ``writes`` (register/add/mark/record), ``payload``
(validation of orchestrator and trainer dicts), ``queries`` (load_points,
list_trials) and ``front`` (nondominated and hypervolume, kept importable here;
fronts, reports and plots live in the ``analysis`` package). Nothing
is imported here so that ``import store`` stays cheap for the CLI.
"""
