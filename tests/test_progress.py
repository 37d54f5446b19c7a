"""Sweep progress: a live bar on a terminal, one line per finished trial in a log."""
import io

from rich.console import Console

from orchestrator.progress import SweepProgress


def test_log_output_gets_one_line_per_finished_trial():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=120)
    with SweepProgress(2, console=console) as progress:
        progress.started("aaaa")
        progress.finished("aaaa", ok=True)
        progress.started("bbbb")
        progress.finished("bbbb", ok=False)
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    assert lines[0].startswith("trial aaaa done: 1/2 finished, 0 failed")
    assert lines[1].startswith("trial bbbb FAILED: 2/2 finished, 1 failed")
    assert len(lines) == 2


def test_disabled_progress_prints_nothing():
    buffer = io.StringIO()
    with SweepProgress(0, console=Console(file=buffer), enabled=False) as progress:
        progress.finished("cccc", ok=True)
    assert buffer.getvalue() == ""
