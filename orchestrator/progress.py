"""A rich progress display for a running sweep: done / running / failed and elapsed time.

On a terminal it is a live bar; where output goes to a file or a CI log (no live
display), every finished trial prints one line instead, so long sweeps still show
progress there.
"""
from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class SweepProgress:
    """Progress bar fed by the store-writer callback on the driver."""

    def __init__(self, total: int, console: Console | None = None, enabled: bool = True) -> None:
        self.total = total
        self.running: set[str] = set()
        self.done = 0
        self.failed = 0
        self._start = time.monotonic()
        self._console = console or Console(stderr=True)
        self._log_lines = enabled and not self._console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), TimeElapsedColumn(),
            console=self._console, disable=not enabled or self._log_lines, transient=False,
        )
        self._task = self._progress.add_task(self._describe(), total=total)

    def _describe(self) -> str:
        return f"running {len(self.running)}  failed {self.failed}"

    def __enter__(self) -> "SweepProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def started(self, key: str) -> None:
        self.running.add(key)
        self._progress.update(self._task, description=self._describe())

    def finished(self, key: str, ok: bool) -> None:
        self.running.discard(key)
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self._progress.update(self._task, completed=self.done + self.failed,
                              description=self._describe())
        if self._log_lines:
            elapsed = time.monotonic() - self._start
            self._console.print(f"trial {key} {'done' if ok else 'FAILED'}: "
                                f"{self.done + self.failed}/{self.total} finished, "
                                f"{self.failed} failed, {elapsed:.0f} s", highlight=False)
