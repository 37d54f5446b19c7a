"""``paretoctl data ...``: what datasets are known and cached, and preparing their caches.

``prepare`` finds a dataset's raw files (``--source``, the data directory, system
folders; downloads only with ``--download``), builds its tensors and caches them under
``<data-dir>/cache``. Sweeps call :func:`prepare_for_sweep` before touching the store, so
that missing data is exit 2 with nothing written.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator import paths
from orchestrator.cli_common import err, user_errors
from orchestrator.errors import UserInputError

data_app = typer.Typer(no_args_is_help=True, help="List and prepare datasets.")
out = Console() if Console().is_terminal else Console(width=200)


@contextmanager
def progress_bar(console: Console, prefix: str = "") -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar with one row per build stage, as a ``(stage, done, total)`` sink."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=False,
                   disable=not console.is_terminal)
    rows: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        label = f"{prefix}{stage}"
        if label not in rows:
            rows[label] = bar.add_task(label, total=total)
        bar.update(rows[label], completed=done, total=total)

    with bar:
        yield report


def human_size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def parse_options(items: list[str], source_cls) -> dict[str, Any]:
    """``--option key=value`` pairs, each value converted by the option's declared type
    (``n_train=1000`` an integer, ``attributes=Goatee,Smiling`` a list) and checked by
    the same declarations as a sweep file's options."""
    from trainers.options import OptionError, parse_all

    texts: dict[str, str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"--option: expected KEY=VALUE, got {item!r}")
        texts[key.strip()] = text
    try:
        values = parse_all(source_cls.option_table, texts)
        source_cls.resolve_options(values)  # rules between options
    except OptionError as exc:
        raise UserInputError(f"--option {exc.name}: {exc.message}") from None
    return values


def lookup(name: str):
    from trainers.datasets import DATASETS
    from trainers.registry import UnknownNameError

    try:
        return DATASETS.get(name)
    except UnknownNameError as exc:
        raise UserInputError(str(exc)) from None


@data_app.command("list")
def list_datasets(
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="datasets folder [env PARETOCTL_DATA; default ./data]"),
) -> None:
    """Show every dataset: tasks, default architecture, whether its default options are
    cached, and the size of all its cache files."""
    from trainers.datasets import DATASETS

    folder = paths.data_dir(data_dir)
    table = Table(title=f"datasets (cache: {folder / 'cache'})")
    for column in ("name", "tasks", "default arch", "cached", "cache size", "description"):
        table.add_column(column)
    for name in DATASETS.names():
        source = DATASETS.get(name)
        files = source.cached_files(folder)
        cached = source.is_cached({}, folder)
        state = "not needed" if cached is None else ("yes" if cached else "no")
        if len(files) > (1 if cached else 0):
            state += f" (+{len(files) - (1 if cached else 0)} variants)"
        size = human_size(sum(f.stat().st_size for f in files)) if files else "-"
        table.add_row(name, ", ".join(t.name for t in source.tasks), source.default_arch,
                      state, size, source.description)
    out.print(table)


@data_app.command("prepare")
@user_errors
def prepare(
    name: str = typer.Argument(..., help="dataset name (see: paretoctl data list)"),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="datasets folder; the cache goes to <data-dir>/cache [env PARETOCTL_DATA; default ./data]"),
    source: Optional[Path] = typer.Option(None, "--source", help="folder holding the raw files (searched first)"),
    download: bool = typer.Option(False, "--download/--no-download", help="fetch missing raw files (torchvision, or the original URL)"),
    option: list[str] = typer.Option([], "--option", "-o", help="dataset option KEY=VALUE (repeatable), e.g. -o n_train=6000"),
    force: bool = typer.Option(False, "--force", help="rebuild even if the cache is up to date"),
) -> None:
    """Find NAME's raw files, build its tensors and cache them (rebuilt when a source
    checksum, an option or the builder version changed)."""
    source_cls = lookup(name)
    if source is not None and not source.is_dir():
        raise UserInputError(f"--source: {source} is not a folder")
    folder = paths.data_dir(data_dir)
    start = time.time()
    with progress_bar(err, f"{name}: ") as report:
        cache = source_cls.prepare(parse_options(option, source_cls), folder, source_dir=source,
                                   download=download, progress=report, force=force)
    if cache is None:
        out.print(f"{name}: nothing to prepare (built in memory by every trial)", highlight=False)
        return
    meta = json.loads(cache.with_suffix(".json").read_text())
    shapes = ", ".join(f"{s} {meta['splits'][s][0]}" for s in ("train", "val", "test"))
    state = "built" if cache.stat().st_mtime >= start else "up to date, built"
    out.print(f"{name}: {escape(str(cache))} ({human_size(meta['bytes'])}; {shapes}; {state} "
              f"{meta['created']} in {meta['build_seconds']:.1f} s)", highlight=False)


def prepare_for_sweep(trials: list[dict[str, Any]], data_dir: Path, console: Console) -> None:
    """Prepare every distinct (dataset, options) of a sweep's trials on the driver;
    raises ``DataError`` (exit 2) before the store is opened when files are missing."""
    from trainers.datasets.prepare import prepare_trials

    with progress_bar(console) as report:
        prepare_trials(trials, data_dir, progress=report)
