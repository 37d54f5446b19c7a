"""Preparing the datasets a set of trials needs, once each, on the driver.

Why on the driver: a missing or corrupt file must stop a sweep before anything is
written (exit 2, one line), and Ray workers should only ever read a finished cache.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from trainers.datasets import DATASETS
from trainers.datasets.progress import Progress


def distinct_datasets(trials: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each (dataset name, options) once, in first-seen order."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for trial in trials:
        name, options = trial["dataset"]["name"], trial["dataset"].get("options") or {}
        seen.setdefault(json.dumps([name, options], sort_keys=True, default=str), (name, options))
    return list(seen.values())


def prepare_trials(trials: Iterable[dict[str, Any]], data_dir: Path,
                   progress: Progress | None = None) -> list[Path]:
    """Build (or check) the cache of every distinct dataset of ``trials``; raises
    ``DataError`` for the first one whose files are missing or unreadable."""
    caches = []
    for name, options in distinct_datasets(trials):
        path = DATASETS.get(name).prepare(options, data_dir, progress=progress)
        if path is not None:
            caches.append(path)
    return caches
