"""Ctrl-C and SIGTERM stop a running sweep cleanly, and a rerun finishes it.

A real `paretoctl sweep` of six small trials (two at a time) gets the signal as soon as
a trial runs: Ctrl-C as a terminal sends it (to the whole foreground process group),
SIGTERM as `kill PID` does. The sweep must exit 130 / 143 with one summary line and no
traceback or crash dump, store the running trials as `interrupted` and leave the
unstarted ones `pending`, give its lease back, and a rerun must run each unfinished
trial exactly once.
"""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from cli_runs import explicit, run_cli, sqlite_rows, start_cli, tiny_sweep

pytestmark = pytest.mark.e2e

TRIALS = 6
SPEC = tiny_sweep("stop", [explicit("linear", [0, 0.5, 0.5])], splits=(800, 60, 60),
                  seeds=list(range(TRIALS)), epochs=6, batch_size=32)
CRASH_MARKERS = ("Traceback", "*** SIG", "core dumped", "Aborted", "Fatal Python error",
                 "logging.cc", "rpc_client")


def statuses(db: Path) -> dict[str, int]:
    return dict(sqlite_rows(db, "SELECT status, COUNT(*) FROM trials GROUP BY status"))


def start(cwd: Path) -> subprocess.Popen:
    return start_cli("sweep", "spec.yaml", cwd=cwd,
                     start_new_session=True)  # its own group, as a shell job has


def wait_for_a_running_trial(sweep: subprocess.Popen, db: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sweep.poll() is None:
        try:
            if statuses(db).get("running"):
                return
        except sqlite3.Error:  # not created yet, or busy
            pass
        time.sleep(0.2)
    sweep.kill()
    pytest.fail(f"no trial started: {sweep.communicate()[1]}")


@pytest.mark.parametrize("signum, to_group", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c", "sigterm"])
def test_a_stopped_sweep_exits_cleanly_and_a_rerun_finishes_it(workdir, signum, to_group):
    (workdir / "spec.yaml").write_text(SPEC)
    db = workdir / "paretoctl.db"
    sweep = start(workdir)
    wait_for_a_running_trial(sweep, db)
    if to_group:
        os.killpg(sweep.pid, signum)
    else:
        sweep.send_signal(signum)
    _, stderr = sweep.communicate(timeout=120)

    assert sweep.returncode == 128 + signum, stderr
    assert not [m for m in CRASH_MARKERS if m in stderr], stderr
    summary = stderr.strip().splitlines()[-1]
    match = re.fullmatch(rf"stopped by {signal.Signals(signum).name}: done (\d+), failed 0, "
                         r"interrupted (\d+), not started (\d+) in [\d.]+s; run the same command "
                         "again to finish", summary)
    assert match, stderr
    done, interrupted, not_started = map(int, match.groups())
    assert interrupted >= 1 and done + interrupted + not_started == TRIALS
    expected = {"done": done, "interrupted": interrupted, "pending": not_started}
    assert statuses(db) == {k: v for k, v in expected.items() if v}  # none failed or running
    assert sqlite_rows(db, "SELECT COUNT(*) FROM sweep_leases") == [(0,)]

    rerun = run_cli("sweep", "spec.yaml", cwd=workdir, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done} already done, {TRIALS - done} to run" in rerun.stderr
    assert f"done {TRIALS - done}, failed 0" in rerun.stderr
    assert statuses(db) == {"done": TRIALS}
    assert sqlite_rows(db, "SELECT COUNT(*) FROM points") == [(TRIALS * 3,)]
