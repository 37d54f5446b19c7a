"""Holding a local sweep's trial at a known point, however fast it trains.

A trial's worker reports to the sweep's driver and waits for it before going on (Tune's
function API): with the driver stopped (SIGSTOP), a worker inside its call of ``train``
(Ray titles the process ``ray::ImplicitFunc.train``) runs to its next report, returns it
and then idles (titled ``ray::ImplicitFunc``) until the driver asks for more. A trial
reports its first epoch at once (orchestrator.runner.EpochReports), so a trial the store
shows running with no epoch yet is, once its worker has reported, at its first epoch's
report: in the middle, not at its end. Tests kill or pause it there instead of hoping
that enough epochs keep it running long enough.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Iterator

#: what Ray titles a Tune trial's worker, and that worker inside a call of ``train``
TRIAL_WORKER = b"ray::ImplicitFunc"
TRAINING = b"ray::ImplicitFunc.train"


def title(pid: int) -> bytes | None:
    """The process's command line (Ray workers: their title), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
    return False


def trial_workers(sweep_pid: int, training: bool = False) -> list[int]:
    """Ray workers holding a Tune trial of this sweep (its Ray's raylet is the sweep's
    child); ``training``: only those inside a call of the trial's ``train``, not an idle
    worker Tune keeps for reuse."""
    wanted = TRAINING if training else TRIAL_WORKER
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            command = title(int(entry.name))
            if command and command.startswith(wanted) and descends_from(int(entry.name), sweep_pid):
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP) inside, continued on the way out."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def worker_at_report(sweep_pid: int, timeout: float = 300) -> int | None:
    """With the sweep's driver stopped: its one trial worker inside ``train``, once that
    call has returned its report (the worker then waits for the driver); None when no
    worker, or more than one, is inside ``train``, or the worker is gone."""
    workers = trial_workers(sweep_pid, training=True)
    if len(workers) != 1:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        command = title(workers[0])
        if command is None:
            return None
        if not command.startswith(TRAINING):
            return workers[0]
        time.sleep(0.01)
    raise AssertionError(f"trial worker {workers[0]} made no report in {timeout} s")
