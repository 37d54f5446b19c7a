"""SIGINT and SIGTERM during a sweep's trials: a request to stop cleanly, not a crash.

While trials run, the two signals only record that a stop was asked for; the runner
then stops Ray Tune, records the running trials as ``interrupted`` and the sweep exits
with 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a
process ended by that signal. Outside that span the usual handling applies (Ctrl-C
raises KeyboardInterrupt, which the CLI turns into one line and exit 130).
"""
from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    """The shell's exit status for a process ended by ``signum``."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class StopSignals:
    """Context manager: while inside, SIGINT/SIGTERM set ``received`` (the first signal's
    number) instead of interrupting; the previous handlers come back on exit.

    Only the main thread can install handlers; elsewhere this is a no-op."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:  # later signals: already stopping
            self.received = signum

    def install(self) -> None:
        """(Re)install the handlers, e.g. after a library replaced one."""
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                previous = signal.signal(signum, self._handle)
                self._previous.setdefault(signum, previous)

    def __enter__(self) -> "StopSignals":
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
