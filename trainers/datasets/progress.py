"""How a dataset build reports progress without knowing who listens.

Builders call ``progress(stage, done, total)`` as they go (``stage`` is a short label such
as "compositing train"). The CLI passes a rich progress bar; Ray workers and tests pass
nothing, which means :func:`silent`.
"""
from __future__ import annotations

from typing import Callable, Iterator

Progress = Callable[[str, int, int], None]


def silent(stage: str, done: int, total: int) -> None:
    """The progress sink used when nobody is watching."""


def chunks(n: int, size: int, stage: str, progress: Progress | None) -> Iterator[slice]:
    """Slices covering ``range(n)`` in steps of ``size``, reporting each finished chunk."""
    report = progress or silent
    report(stage, 0, n)
    for start in range(0, n, size):
        stop = min(n, start + size)
        yield slice(start, stop)
        report(stage, stop, n)
