"""A rich progress display for a running sweep: trials done / running / failed, each
running trial's stage, epoch and last validation score, and an ETA for the sweep.

On a terminal it is a live display (a bar for the sweep, one per running trial); where
output goes to a file or a CI log (no live display), every event (an epoch, a finished
trial) prints one line instead, so long sweeps still show progress there.

The ETA (:func:`estimate_eta`) adds up the work left: each running trial's remaining
time, extrapolated from its epoch progress in its current stage (or, before its first
epoch, the mean duration of the trials finished so far minus its elapsed time), plus
each trial not started yet at that mean duration; the sum is spread over the trial
slots seen in use at once, and is never less than the longest running trial's rest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from statistics import fmean
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def estimate_eta(durations: list[float], running: list[tuple[float, float | None]],
                 pending: int, slots: int) -> float | None:
    """Seconds until the sweep ends, or None while nothing tells yet.

    ``durations``: wall seconds of the trials finished so far; ``running``: per running
    trial (seconds since it started, fraction of its current stage done or None before
    its first epoch); ``pending``: trials not started; ``slots``: trials run at once."""
    rates = [elapsed / done for elapsed, done in running if done]
    typical = fmean(durations) if durations else (fmean(rates) if rates else None)
    rests = []
    for elapsed, done in running:
        if done:
            rests.append(elapsed * (1.0 - min(done, 1.0)) / done)
        elif typical is not None:
            rests.append(max(typical - elapsed, 0.0))
        else:
            return None
    if pending and typical is None:
        return None
    work = sum(rests) + pending * (typical or 0.0)
    return max(work / max(slots, 1), max(rests, default=0.0))


def format_eta(seconds: float | None) -> str:
    """``ETA 42s``, ``ETA 3m05s``, ``ETA 2h03m``; ``ETA ?`` while it is unknown."""
    if seconds is None:
        return "ETA ?"
    total = int(round(max(seconds, 0.0)))
    if total < 60:
        return f"ETA {total}s"
    if total < 3600:
        return f"ETA {total // 60}m{total % 60:02d}s"
    return f"ETA {total // 3600}h{total % 3600 // 60:02d}m"


@dataclass
class RunningTrial:
    """What the display knows of one running trial: when it started, its last epoch."""

    start: float
    stage: str | None = None
    epoch: int | None = None
    stage_epochs: int | None = None
    val_score: float | None = None

    @property
    def fraction(self) -> float | None:
        """Share of the current stage done, None before the first epoch."""
        if self.epoch is None or not self.stage_epochs:
            return None
        return (self.epoch + 1) / self.stage_epochs

    def describe(self) -> str:
        if self.epoch is None:
            return "starting"
        total = f"/{self.stage_epochs}" if self.stage_epochs else ""
        score = "-" if self.val_score is None else f"{self.val_score:.4f}"
        return f"{self.stage} epoch {self.epoch + 1}{total} val {score}"


class SweepProgress:
    """Progress display fed by the store-writer callback on the driver."""

    def __init__(self, total: int, console: Console | None = None, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.running: dict[str, RunningTrial] = {}
        self.done = 0
        self.failed = 0
        self.durations: list[float] = []
        self.slots = 1  # the most trials seen running at once
        self._clock = clock
        self._start = clock()
        self._console = console or Console(stderr=True)
        self._log_lines = enabled and not self._console.is_terminal
        self._progress = Progress(
            TextColumn("{task.fields[label]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), TimeElapsedColumn(),
            console=self._console, disable=not enabled or self._log_lines, transient=False,
        )
        self._task = self._progress.add_task(self._describe(), total=total,
                                             label="[bold]trials")
        self._trial_tasks: dict[str, Any] = {}

    def eta(self) -> float | None:
        """Seconds left for the sweep (see the module's docstring), None if unknown."""
        now = self._clock()
        running = [(now - t.start, t.fraction) for t in self.running.values()]
        pending = self.total - self.done - self.failed - len(self.running)
        return estimate_eta(self.durations, running, max(pending, 0), self.slots)

    def _describe(self) -> str:
        text = f"running {len(self.running)}  failed {self.failed}"
        if self.done + self.failed < self.total:
            text += f"  {format_eta(self.eta())}"
        return text

    def __enter__(self) -> "SweepProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def started(self, key: str) -> None:
        self.running[key] = RunningTrial(self._clock())
        self.slots = max(self.slots, len(self.running))
        self._trial_tasks[key] = self._progress.add_task("starting", total=None, label=key)
        self._progress.update(self._task, description=self._describe())

    def epoch(self, key: str, record: dict[str, Any]) -> None:
        """A running trial finished an epoch (its record: stage, epoch, stage_epochs,
        val_score)."""
        trial = self.running.get(key)
        if trial is None:  # a late report of a trial already finished
            return
        trial.stage, trial.epoch = str(record.get("stage")), int(record.get("epoch", 0))
        trial.stage_epochs = record.get("stage_epochs")
        score = record.get("val_score")
        trial.val_score = float(score) if isinstance(score, (int, float)) else None
        task = self._trial_tasks.get(key)
        if task is not None:
            self._progress.update(task, description=trial.describe(), total=trial.stage_epochs,
                                  completed=trial.epoch + 1)
        self._progress.update(self._task, description=self._describe())
        if self._log_lines:
            self._console.print(f"trial {key} {trial.describe()}, "
                                f"{self._clock() - trial.start:.0f} s; {format_eta(self.eta())}",
                                highlight=False)

    def finished(self, key: str, ok: bool) -> None:
        trial = self.running.pop(key, None)
        task = self._trial_tasks.pop(key, None)
        if task is not None:
            self._progress.remove_task(task)
        if ok:
            self.done += 1
            if trial is not None:
                self.durations.append(self._clock() - trial.start)
        else:
            self.failed += 1
        self._progress.update(self._task, completed=self.done + self.failed,
                              description=self._describe())
        if self._log_lines:
            elapsed = self._clock() - self._start
            line = (f"trial {key} {'done' if ok else 'FAILED'}: "
                    f"{self.done + self.failed}/{self.total} finished, "
                    f"{self.failed} failed, {elapsed:.0f} s")
            if self.done + self.failed < self.total:
                line += f"; {format_eta(self.eta())}"
            self._console.print(line, highlight=False)
