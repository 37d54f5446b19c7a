"""The vocabulary every layer of paretoctl shares, with no dependencies (stdlib only).

``contract.metrics`` is the metric registry: the name, direction, level and unit of every
figure a stored point carries. The store, the analysis and the CLI read it; nothing here
imports torch, pandas or SQLAlchemy, so any layer may import it.
"""
