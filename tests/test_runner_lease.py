"""The same sweep started twice at once: one run trains it, the other refuses in one line.

Two real `paretoctl sweep` processes of one spec start together on one store: exactly
one trains every trial (once: one Tune experiment, one set of rows), the other exits 2
naming the run that holds the sweep. The store starts with the lease of a run that was
killed (its process is gone), which the winner takes over at once. The winner also
shows that Ray workers are reused across trials: fewer worker processes start than
there are trials.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert

from cli_runs import cli_env, explicit, start_cli, tiny_sweep
from store.db import open_store
from store.schema import SweepLease
from trial_holds import trial_workers

pytestmark = pytest.mark.e2e

TRIALS = 6
SPEC = tiny_sweep("twice", [explicit("linear", [0, 0.5, 0.5])], seeds=list(range(TRIALS)))


def plant_dead_holders_lease(db: Path) -> str:
    """The lease a run killed with SIGKILL leaves behind: its process is gone."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    holder = f"{socket.gethostname()}:{finished.stdout.strip()}:deadbeef"
    now = datetime.now(timezone.utc)
    with open_store(f"sqlite:///{db}", create=True) as store, store.write_session() as session:
        session.execute(insert(SweepLease).values(sweep="twice", holder=holder, acquired_at=now,
                                                  expires_at=now + timedelta(seconds=60)))
    return holder


def hold_trials_until_one_ends(runs: list[subprocess.Popen], timeout: float = 300) -> None:
    """Stop (SIGSTOP) every trial worker of either run as it appears, until one run has
    ended: the run holding the lease cannot finish the sweep and give the lease back
    before the other, however much later a loaded machine starts it, has asked for it."""
    held: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while all(run.poll() is None for run in runs) and time.monotonic() < deadline:
            for run in runs:
                for pid in set(trial_workers(run.pid)) - held:
                    os.kill(pid, signal.SIGSTOP)
                    held.add(pid)
            time.sleep(0.05)
    finally:
        for pid in held:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def test_a_sweep_started_twice_at_once_trains_once(workdir, ray_tmp):
    (workdir / "spec.yaml").write_text(SPEC)
    dead = plant_dead_holders_lease(workdir / "paretoctl.db")
    env = cli_env(PARETOCTL_RAY_TMP=str(ray_tmp))
    runs = [start_cli("sweep", "spec.yaml", cwd=workdir, env=env) for _ in range(2)]
    hold_trials_until_one_ends(runs)
    results = [(run.pid, run.wait(timeout=300), run.communicate()[1]) for run in runs]
    codes = sorted(code for _, code, _ in results)
    assert codes == [0, 2], results
    (winner, _, trained), = [r for r in results if r[1] == 0]
    (_, _, refused), = [r for r in results if r[1] == 2]

    lines = refused.strip().splitlines()
    assert len(lines) == 1, refused
    assert re.fullmatch(rf"error: sweep 'twice' is already running: {re.escape(socket.gethostname())}"
                        rf":{winner}:[0-9a-f]{{8}} holds its lease until \d{{4}}-\d\d-\d\d "
                        r"\d\d:\d\d:\d\d UTC \(renewed while it runs\); wait for that run to end, "
                        "or stop it, then run this again", lines[0]), lines[0]
    assert f"done {TRIALS}, failed 0" in trained
    assert f"taking over the lease of {dead} (expired, or its process is gone)" in trained

    with sqlite3.connect(workdir / "paretoctl.db") as conn:
        assert conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall() == [
            ("done", TRIALS)]
        assert conn.execute("SELECT COUNT(*) FROM points").fetchone() == (TRIALS * 3,)
        assert conn.execute("SELECT COUNT(*) FROM sweep_leases").fetchone() == (0,)
    trial_dirs = list((workdir / ".paretoctl" / "ray_results" / "twice").glob("trial_trainable_*"))
    assert len(trial_dirs) == TRIALS  # one Tune experiment wrote the results folder

    # only the winner started Ray; count the worker processes its trials ran in
    sessions = [p for p in ray_tmp.glob("session_*_*") if p.name.endswith(f"_{winner}")]
    assert len(sessions) == 1
    workers = list((sessions[0] / "logs").glob("python-core-worker-*.log"))
    assert 0 < len(workers) < TRIALS, [w.name for w in workers]
