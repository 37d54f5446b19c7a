"""Where raw dataset files are looked for, in which order, and the error when they are not.

A :class:`RawSet` names the files of one raw data set (the four MNIST IDX files, the six
CIFAR-10 batches, a CSV, ...) and the folders they may sit in. :func:`locate` searches

1. the ``--source DIR`` folder (the files directly in it, or in one of the layouts below),
2. the data directory, in the layouts torchvision and the papers' repositories use
   (``<data>/MNIST/raw``, ``<data>/cifar-10-batches-py``, ...),
3. system folders (Debian's /usr/share/datasets/fashion-mnist for Fashion-MNIST),

and takes the first folder that holds *every* file of the set, so one build never mixes
files from two places. Only when nothing is found and ``download`` is on does it fetch the
set into the data directory (torchvision, or the original URL) and search again.
Otherwise it raises ``DataError`` with one line: what is missing, where it looked, and
the command that fetches it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from trainers.errors import DataError

Fetch = Callable[[Path], None]


def resolve_data_dir(data_dir: Path | str | None) -> Path:
    """The data directory: the given one, else env ``PARETOCTL_DATA``, else ``./data``."""
    return Path(data_dir or os.environ.get("PARETOCTL_DATA", "data")).resolve()


@dataclass(frozen=True)
class RawSet:
    """One raw data set: its files (role -> accepted names) and the folders they live in.

    A name ending in ``/`` is a folder (CelebA's image folder). ``layouts`` are paths
    relative to the data directory (``""`` is the data directory itself); the first one is
    where ``fetch`` puts the files.
    """

    key: str
    title: str
    files: Mapping[str, tuple[str, ...]]
    layouts: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    fetch: Fetch | None = field(default=None, compare=False)
    #: what to do by hand when there is no automatic download
    manual: str = ""

    def find_in(self, folder: Path) -> dict[str, Path]:
        """The files of this set present in ``folder`` (role -> path)."""
        found = {}
        for role, names in self.files.items():
            for name in names:
                path = folder / name.rstrip("/")
                if path.is_dir() if name.endswith("/") else path.is_file():
                    found[role] = path
                    break
        return found

    def folders(self, data_dir: Path, source_dir: Path | None) -> list[Path]:
        """Candidate folders in search order, without duplicates."""
        candidates: list[Path] = []
        if source_dir is not None:
            candidates += [source_dir] + [source_dir / layout for layout in self.layouts if layout]
        candidates += [data_dir / layout for layout in self.layouts]
        candidates += [Path(d) for d in self.system_dirs]
        unique: list[Path] = []
        for folder in candidates:
            folder = folder.resolve()
            if folder not in unique:
                unique.append(folder)
        return unique


def search(raw: RawSet, data_dir: Path, source_dir: Path | None) -> tuple[dict[str, Path], list[Path], dict[str, Path]]:
    """(complete match or {}, folders searched, best partial match)."""
    folders = raw.folders(data_dir, source_dir)
    best: dict[str, Path] = {}
    for folder in folders:
        found = raw.find_in(folder)
        if len(found) == len(raw.files):
            return found, folders, found
        if len(found) > len(best):
            best = found
    return {}, folders, best


def fetch_command(dataset: str, data_dir: Path) -> str:
    return f"paretoctl data prepare {dataset} --download --data-dir {data_dir}"


def missing_message(raw: RawSet, dataset: str, data_dir: Path, folders: list[Path],
                    partial: dict[str, Path]) -> str:
    missing = [names[0].rstrip("/") for role, names in raw.files.items() if role not in partial]
    where = ", ".join(str(f) for f in folders)
    remedy = (f"fetch them with: {fetch_command(dataset, data_dir)}" if raw.fetch is not None
              else f"{raw.manual} (no automatic download)")
    return (f"{dataset}: {raw.title} files missing: {', '.join(missing)}; "
            f"looked in {where}; {remedy}")


def locate(raw: RawSet, *, dataset: str, data_dir: Path, source_dir: Path | None = None,
           download: bool = False) -> dict[str, Path]:
    """Paths of every file of ``raw`` (role -> path), fetching them only if ``download``."""
    found, folders, partial = search(raw, data_dir, source_dir)
    if found:
        return found
    if download and raw.fetch is not None:
        target = data_dir / raw.layouts[0]
        target.mkdir(parents=True, exist_ok=True)
        try:
            raw.fetch(data_dir)
        except DataError:
            raise
        except Exception as exc:  # network, HTTP, archive errors: all one-line user errors
            raise DataError(f"{dataset}: downloading {raw.title} into {target} failed: "
                            f"{type(exc).__name__}: {exc}") from None
        found, folders, partial = search(raw, data_dir, source_dir)
        if found:
            return found
    raise DataError(missing_message(raw, dataset, data_dir, folders, partial))
