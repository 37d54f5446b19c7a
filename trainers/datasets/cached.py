"""Datasets made from raw files: located once, built once, then read from the cache.

A :class:`CachedSource` says which raw sets it needs (``raw_sets``), how to turn their
files into whole-split tensors (``assemble``) and how stored tensors become model inputs
(``float_inputs``). This base class does the rest the same way for every dataset:

- ``prepare`` (driver side: ``paretoctl data prepare``, and every sweep before it runs)
  finds the files, checks their SHA-256 against the cache's sidecar and rebuilds only
  when a checksum, an option, the seed or the builder ``version`` changed, or when the
  cache file no longer matches its own recorded SHA-256;
- ``build`` (trial side, in Ray workers) reads a valid cache after checking its SHA-256
  (a mismatch is a ``DataError`` carrying the exact ``data prepare`` command that
  rebuilds it), and prepares only when there is none (it then needs the files).
"""
from __future__ import annotations

import shlex
import time
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from trainers.datasets.base import DatasetBundle, DatasetSource, Split
from trainers.datasets.cache import CacheEntry, cached_files, digest_sources
from trainers.datasets.locations import RawSet, locate, resolve_data_dir
from trainers.datasets.progress import Progress, silent
from trainers.errors import DataError
from trainers.options import command_line


def image_inputs(x: torch.Tensor, scale: float, mean=None, std=None) -> torch.Tensor:
    """Stored pixels to float32 model inputs: ``(x * scale - mean) / std`` per channel.

    One conversion and one or two in-place passes: this is most of a cached load's time.
    """
    out = x.to(torch.float32)
    if mean is None and std is None:
        return out.mul_(scale)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean_t = torch.as_tensor(0.0 if mean is None else mean, dtype=torch.float32).reshape(shape)
    std_t = torch.as_tensor(1.0 if std is None else std, dtype=torch.float32).reshape(shape)
    return out.mul_(scale / std_t).sub_(mean_t / std_t)


def split_payload(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
    """One split for the cache: contiguous tensors, labels as given (int64 or float)."""
    return {"x": torch.as_tensor(np.ascontiguousarray(x)), "y": torch.as_tensor(np.ascontiguousarray(y))}


def same_checksums(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v["sha256"] for k, v in a.items()} == {k: v["sha256"] for k, v in b.items()}


class CachedSource(DatasetSource):
    """Base class of every dataset built from raw files."""

    #: bump when the construction changes: every existing cache of the dataset is rebuilt
    version: ClassVar[int] = 1
    #: options that only change ``float_inputs`` (e.g. ``normalize``): not in the cache key
    decode_options: ClassVar[tuple[str, ...]] = ()

    # -- what a dataset defines ------------------------------------------------------------

    @classmethod
    @abstractmethod
    def raw_sets(cls, options: dict[str, Any]) -> dict[str, RawSet]:
        """The raw sets this build reads, by key (``{"mnist": MNIST}``)."""

    @classmethod
    @abstractmethod
    def assemble(cls, sources: dict[str, Path], options: dict[str, Any],
                 progress: Progress) -> dict[str, Any]:
        """Build ``{"splits": {split: {"x", "y"}}, "meta": {...}}`` from the located files
        (keys ``"<raw key>/<role>"``)."""

    @classmethod
    def float_inputs(cls, x: torch.Tensor, options: dict[str, Any],
                     meta: dict[str, Any]) -> torch.Tensor:
        """Stored inputs to model inputs; the default scales uint8 pixels to [0, 1]."""
        return image_inputs(x, float(meta.get("pixel_scale", 1.0 / 255)))

    # -- shared machinery ------------------------------------------------------------------

    @classmethod
    def cache_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k not in cls.decode_options}

    @classmethod
    def cache_entry(cls, options: dict[str, Any], data_dir: Path) -> CacheEntry:
        return CacheEntry.of(data_dir, cls.name, cls.cache_options(options), cls.version)

    @classmethod
    def locate_sources(cls, options: dict[str, Any], data_dir: Path, source_dir: Path | None,
                       download: bool) -> dict[str, Path]:
        """Every file of every raw set, keyed ``"<raw key>/<role>"``."""
        paths: dict[str, Path] = {}
        for key, raw in cls.raw_sets(options).items():
            found = locate(raw, dataset=cls.name, data_dir=data_dir, source_dir=source_dir,
                           download=download)
            paths.update({f"{key}/{role}": path for role, path in found.items()})
        return paths

    @classmethod
    def prepare(cls, options: dict[str, Any] | None, data_dir: Path | None = None,
                source_dir: Path | None = None, download: bool = False,
                progress: Progress | None = None, force: bool = False) -> Path:
        options = cls.checked_options(options)
        data_dir = resolve_data_dir(data_dir)
        source_dir = Path(source_dir).resolve() if source_dir is not None else None
        entry = cls.cache_entry(options, data_dir)
        with entry.lock():
            meta = None if force else entry.valid_for(cls.cache_options(options), cls.version)
            if meta is not None and not entry.intact(meta):
                meta = None  # flipped bytes: rebuild it from the raw files
            try:
                paths = cls.locate_sources(options, data_dir, source_dir, download and meta is None)
            except DataError:
                if meta is not None:  # raw files gone, cache intact: it is all trials need
                    return entry.data_path
                raise
            digests = digest_sources(paths, meta.get("sources") if meta else None)
            if meta is not None and same_checksums(meta["sources"], digests):
                if meta["sources"] != digests:  # moved or touched: remember the new stat
                    entry.save_meta({**meta, "sources": digests})
                return entry.data_path
            start = time.perf_counter()
            payload = cls.assemble(paths, options, progress or silent)
            entry.save(payload, {
                "dataset": cls.name, "version": cls.version,
                "options": cls.cache_options(options), "sources": digests,
                "splits": {s: list(p["x"].shape) for s, p in payload["splits"].items()},
                "build_seconds": round(time.perf_counter() - start, 3),
                "torch": torch.__version__, "numpy": np.__version__,
            })
        return entry.data_path

    @classmethod
    def build(cls, options: dict[str, Any] | None, data_dir: Path | None = None) -> DatasetBundle:
        options = cls.checked_options(options)
        data_dir = resolve_data_dir(data_dir)
        entry = cls.cache_entry(options, data_dir)
        meta = entry.valid_for(cls.cache_options(options), cls.version)
        if meta is None:
            cls.prepare(options, data_dir)
            meta = entry.valid_for(cls.cache_options(options), cls.version) or {}
        return cls.decode(entry.load(meta, cls.rebuild_command(options, data_dir)), options, entry)

    @classmethod
    def rebuild_command(cls, options: dict[str, Any], data_dir: Path) -> str:
        """The ``paretoctl data prepare`` line that rebuilds exactly this cache file: every
        option it was built with that is not the default, and its data directory."""
        words = ["paretoctl", "data", "prepare", cls.name, "--force"]
        for item in command_line(cls.option_table, cls.cache_options(options)):
            words += ["-o", item]
        return shlex.join([*words, "--data-dir", str(data_dir)])

    @classmethod
    def decode(cls, payload: dict[str, Any], options: dict[str, Any],
               entry: CacheEntry) -> DatasetBundle:
        meta = payload.get("meta", {})
        splits = {name: Split(cls.float_inputs(part["x"], options, meta), part["y"])
                  for name, part in payload["splits"].items()}
        return DatasetBundle(
            name=cls.name, tasks=cls.tasks_for(options),
            input_shape=tuple(splits["train"].x.shape[1:]), splits=splits,
            info={**options, **{k: v for k, v in meta.items()
                                if isinstance(v, (str, int, float, bool))},
                  "cache": str(entry.data_path)})

    @classmethod
    def cached_files(cls, data_dir: Path | None = None) -> list[Path]:
        return cached_files(resolve_data_dir(data_dir), cls.name)

    @classmethod
    def is_cached(cls, options: dict[str, Any] | None, data_dir: Path | None = None) -> bool:
        options = cls.checked_options(options)
        entry = cls.cache_entry(options, resolve_data_dir(data_dir))
        return entry.valid_for(cls.cache_options(options), cls.version) is not None
