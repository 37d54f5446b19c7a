"""The vocabulary every layer of paretoctl shares, with no dependencies (stdlib only).

``contract.metrics`` is the metric registry: the name, direction, level and unit of every
figure a stored point carries. ``contract.settings``, ``contract.trial`` and
``contract.result`` declare, once, the training settings, a trial's config and key, and
what a trial returns, each with the plain form (``to_plain``/``from_plain``) that crosses
Ray and JSON. The orchestrator, the trainers, the store and the CLI read them; nothing here
imports torch, pandas or SQLAlchemy, so any layer may import it.
"""
