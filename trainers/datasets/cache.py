"""The tensor cache: ``<data_dir>/cache/<name>-<key>.pt`` plus a ``.json`` sidecar.

Why: trials must never re-parse raw files. A prepared dataset is one ``torch.save`` file
of whole-split tensors (uint8 images where possible: 4x smaller and fast to read), loaded
memory-mapped. ``key`` hashes the dataset name, its resolved options (seed included) and
the builder's version, so every option variant has its own file. The sidecar records how
the file was built (those three, plus the SHA-256 of every source file) and the SHA-256 of
the cache file itself (hashed while it is written), and is written last, so a file
without a valid sidecar is never used. ``prepare`` rebuilds when a source checksum
differs from the recorded one, or when the cache file's own checksum does not match
(flipped bytes); loading checks the whole file too (about 0.15 s for the 190 MB
multifashion cache) and refuses a mismatch with the command that rebuilds it.

Checksums are cached too: a source whose size and modification time equal the recorded
ones keeps its recorded SHA-256 (the make/ccache rule), so re-checking a 26 MB IDX file or
CelebA's 200k images costs a ``stat``, not a read.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from trainers.errors import DataError

#: layout of the cache files themselves; bump when the payload structure changes
CACHE_FORMAT = 1
CHUNK = 1 << 20


def cache_dir(data_dir: Path) -> Path:
    return data_dir / "cache"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(name: str, options: dict[str, Any], version: int) -> str:
    identity = {"dataset": name, "options": options, "version": version, "format": CACHE_FORMAT}
    return hashlib.sha256(canonical(identity).encode()).hexdigest()[:12]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class HashingWriter:
    """A write-only file that hashes what passes through it (``torch.save`` target), so
    the cache's checksum costs no second read."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def stat_signature(path: Path) -> dict[str, int]:
    """Size and newest modification time (of a file, or of a folder's files)."""
    if path.is_dir():
        entries = [e.stat() for e in os.scandir(path) if e.is_file()]
        return {"size": sum(s.st_size for s in entries), "files": len(entries),
                "mtime_ns": max((s.st_mtime_ns for s in entries), default=0)}
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def sha256_folder(path: Path) -> str:
    """Digest of a folder: every file's name and SHA-256, in name order."""
    digest = hashlib.sha256()
    for name in sorted(e.name for e in os.scandir(path) if e.is_file()):
        digest.update(f"{name}\0{sha256_file(path / name)}\n".encode())
    return digest.hexdigest()


def digest_source(path: Path, previous: dict[str, Any] | None) -> dict[str, Any]:
    """``{"sha256", "path", "size", "mtime_ns"}``; reuses ``previous`` when unchanged."""
    signature = stat_signature(path)
    if previous and previous.get("path") == str(path) and all(
            previous.get(k) == v for k, v in signature.items()):
        return dict(previous)
    sha = sha256_folder(path) if path.is_dir() else sha256_file(path)
    return {"sha256": sha, "path": str(path), **signature}


def digest_sources(paths: dict[str, Path], previous: dict[str, Any] | None) -> dict[str, Any]:
    previous = previous or {}
    return {role: digest_source(path, previous.get(role)) for role, path in sorted(paths.items())}


@dataclass(frozen=True)
class CacheEntry:
    """The two files of one cached (dataset, options, version)."""

    name: str
    data_path: Path
    meta_path: Path

    @classmethod
    def of(cls, data_dir: Path, name: str, options: dict[str, Any], version: int) -> "CacheEntry":
        stem = cache_dir(data_dir) / f"{name}-{cache_key(name, options, version)}"
        return cls(name, stem.with_suffix(".pt"), stem.with_suffix(".json"))

    def read_meta(self) -> dict[str, Any] | None:
        """The sidecar if it is readable, records the data file's checksum and size, and
        the size matches (a cheap test; :meth:`intact` reads the whole file)."""
        try:
            meta = json.loads(self.meta_path.read_text())
            if self.data_path.stat().st_size != meta["bytes"] or not isinstance(meta["sha256"], str):
                return None
            return meta
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def intact(self, meta: dict[str, Any]) -> bool:
        """Whether the data file's SHA-256 is the one recorded when it was written."""
        try:
            return sha256_file(self.data_path) == meta.get("sha256")
        except OSError:
            return False

    def valid_for(self, options: dict[str, Any], version: int) -> dict[str, Any] | None:
        """The sidecar when it describes exactly this build recipe, else ``None``."""
        meta = self.read_meta()
        if meta is None:
            return None
        same = (meta.get("dataset") == self.name and meta.get("version") == version
                and meta.get("format") == CACHE_FORMAT
                and canonical(meta.get("options")) == canonical(options))
        return meta if same else None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive build lock of the cache folder (one hidden file), so parallel trials on
        one machine build a dataset once; builds are rare, so one lock for all is enough."""
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.data_path.parent / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def save(self, payload: dict[str, Any], meta: dict[str, Any]) -> None:
        """Write data then sidecar, each atomically (temp file + rename); the sidecar
        records the data file's SHA-256, computed while writing."""
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        self.meta_path.unlink(missing_ok=True)
        temp = self.data_path.with_suffix(f".pt.{os.getpid()}.tmp")
        with open(temp, "wb") as handle:
            writer = HashingWriter(handle)
            torch.save(payload, writer)
        os.replace(temp, self.data_path)
        self.save_meta({**meta, "format": CACHE_FORMAT, "bytes": self.data_path.stat().st_size,
                        "sha256": writer.digest.hexdigest(),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def save_meta(self, meta: dict[str, Any]) -> None:
        temp = self.meta_path.with_suffix(f".json.{os.getpid()}.tmp")
        temp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(temp, self.meta_path)

    def load(self, meta: dict[str, Any], rebuild: str) -> dict[str, Any]:
        """The payload, memory-mapped, after checking the whole file against the
        checksum in ``meta``; ``rebuild`` is the command that remakes this very file."""
        if not self.intact(meta):
            raise DataError(f"{self.name}: cache file {self.data_path} is corrupt (its SHA-256 "
                            f"differs from the one recorded when it was built); rebuild it "
                            f"with: {rebuild}")
        try:
            return torch.load(self.data_path, mmap=True, weights_only=True)
        except Exception as exc:  # a foreign file with a matching sidecar
            raise DataError(f"{self.name}: cache file {self.data_path} is unreadable "
                            f"({type(exc).__name__}); rebuild it with: {rebuild}") from None


def cached_files(data_dir: Path, name: str) -> list[Path]:
    """Every cache data file of dataset ``name`` (all option variants)."""
    folder = cache_dir(data_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{name}-*.pt") if p.stem.rsplit("-", 1)[0] == name)
